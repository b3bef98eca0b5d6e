"""Where the project is on disk."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HANDLERS_DIR = PROJECT_ROOT / "handlers"
