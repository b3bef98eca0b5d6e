#!/usr/bin/env python
"""Synthesize every stack: `python main.py` (or `cdktf synth`).

Writes cdktf.out/stacks/<name>/cdk.tf.json for each stack in modules.app.STACKS, or
nothing at all when the settings are invalid.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from modules.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    from modules.app import synth  # after the settings check: bad settings cost no jsii start-up

    # CDKTF_OUTDIR is how `cdktf synth` tells the app where to write.
    outdir = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
    for path in synth(settings, outdir):
        print(f"synthesized {path.parent.name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
