"""The stacks as the embedded defaults synthesize them (real AWS), for generated docs.

The scorecard, the diagrams and the cost tables in ``docs/`` describe the defaults, never a
developer's ``settings.toml`` or ``RAI_*`` environment, so they are the same on every machine.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from modules.policy.document import StackDocument, load_outdir


def default_stacks() -> list[StackDocument]:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from modules.app import synth
    from modules.config import load_settings

    with tempfile.TemporaryDirectory(prefix="default-synth-") as tmp:
        outdir = Path(tmp) / "cdktf.out"
        synth(load_settings(environ={}, settings_file=None), outdir)
        return load_outdir(str(outdir))
