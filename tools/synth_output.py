"""Where the current settings' environment is synthesized: every tool that reads a synth asks here.

``cdktf.out/`` for the default environment (``dev``), ``cdktf.out.<environment>/`` for any
other (:func:`modules.config.environments.synth_outdir`), so a plan, a cost report, a chaos
listing or a deploy never reads another environment's synth. ``python -m tools.synth_output``
prints it (relative to the project root), for the Makefile's ``cdktf`` CLI calls.
"""

from __future__ import annotations

import sys
from pathlib import Path

from modules.config import SettingsError, load_settings
from modules.config.environments import chosen_outdir
from modules.core.paths import PROJECT_ROOT


def current_outdir() -> Path:
    """``CDKTF_OUTDIR`` when set (as ``main.py`` writes there), else the synth output of the
    environment the settings name (``RAI_ENV``, the file, ``RAI_ENVIRONMENT``)."""
    return chosen_outdir(load_settings().environment)


def main() -> int:
    try:
        print(current_outdir().relative_to(PROJECT_ROOT))
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
