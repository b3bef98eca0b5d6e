"""What a synth was made from, written beside it, so a tool that reads a synth can tell
whether it is out of date: the code (``modules/``, ``handlers/``, ``main.py``), the settings
files and the ``RAI_`` variables.

Contents are hashed, not dated: a checkout, a rebase or an editor that rewrites a file
unchanged never makes a synth stale, and a change always does. Values of ``RAI_`` variables
are hashed too (a setting may hold a token); only their names are kept readable.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modules.core.paths import PROJECT_ROOT

FINGERPRINT_FILE = "inputs.json"  # in the synth output dir, beside stacks/ and manifest.json
CODE = ("modules", "handlers", "main.py")
SETTINGS_FILES = ("settings.toml", "environments")  # files, or folders of *.toml
SETTINGS_FILE_VAR = "RAI_SETTINGS_FILE"
SETTINGS_VAR_PREFIX = "RAI_"
_SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache"}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _files(root: Path, names: tuple[str, ...], suffix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        path = root / name
        found = [path] if path.is_file() else sorted(path.rglob(f"*{suffix}")) if path.is_dir() else []
        for file in found:
            if file.is_file() and not _SKIPPED_PARTS & set(file.parts) and file.suffix != ".pyc":
                out[file.relative_to(root).as_posix()] = _digest(file.read_bytes())
    return out


def inputs(environ: Mapping[str, str] | None = None, root: Path = PROJECT_ROOT) -> dict[str, dict[str, str]]:
    """The fingerprint of what a synth reads now: ``code`` and ``settings`` (path -> content
    hash) and ``environment`` (``RAI_`` variable -> value hash)."""
    env = os.environ if environ is None else environ
    settings = _files(root, SETTINGS_FILES, ".toml")
    chosen = env.get(SETTINGS_FILE_VAR)
    if chosen and Path(chosen).is_file():
        settings[str(Path(chosen))] = _digest(Path(chosen).read_bytes())
    variables = {k: _digest(v.encode()) for k, v in sorted(env.items()) if k.startswith(SETTINGS_VAR_PREFIX)}
    return {"code": _files(root, CODE), "settings": settings, "environment": variables}


def write(outdir: Path, environ: Mapping[str, str] | None = None, root: Path = PROJECT_ROOT) -> Path:
    """Record the inputs of the synth just written to ``outdir``."""
    path = outdir / FINGERPRINT_FILE
    path.write_text(json.dumps(inputs(environ, root), indent=1, sort_keys=True) + "\n")
    return path


def changes(outdir: Path, environ: Mapping[str, str] | None = None, root: Path = PROJECT_ROOT) -> list[str]:
    """Why the synth in ``outdir`` is out of date, one reason per kind of input (empty: it is
    not). A synth without a fingerprint (an older one, or another tool's) counts as stale."""
    path = outdir / FINGERPRINT_FILE
    if not path.is_file():
        return [f"no record of its inputs ({FINGERPRINT_FILE})"]
    recorded: dict[str, dict[str, Any]] = json.loads(path.read_text())
    now = inputs(environ, root)
    reasons = []
    for kind, label in (("code", "code"), ("settings", "settings files"), ("environment", "RAI_ variables")):
        before, after = recorded.get(kind, {}), now[kind]
        differ = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        if differ:
            shown = ", ".join(differ[:3]) + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
            reasons.append(f"{label} changed since: {shown}")
    return reasons
