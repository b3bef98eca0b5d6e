"""The synth a tool reads, never silently out of date (``make cost``, ``make scorecard``).

``python main.py`` records what a synth was made from (:mod:`modules.core.fingerprint`); a
tool that reads ``cdktf.out`` synthesizes the current settings first when the code, the
settings files or the ``RAI_`` variables changed since, and says which synth it reads.
"""

from __future__ import annotations

import sys
from pathlib import Path

from modules.core import fingerprint
from modules.policy.document import StackDocument, load_outdir
from tools.synth_output import current_outdir


def describe(source: Path) -> str:
    """One line: which synth ``source`` is, and whether it is out of date (and why)."""
    stale = fingerprint.changes(source)
    state = "out of date: " + "; ".join(stale) if stale else "up to date with the code and settings"
    return f"{source} ({state})"


def current_stacks(source: Path | None = None) -> list[StackDocument]:
    """The stacks of ``source`` as they are. Without ``source``: those of the default output dir,
    synthesized with the current settings first when it is missing or out of date. Either way
    the synth read is named on stderr."""
    if source is not None:
        print(f"reading {describe(source)}", file=sys.stderr)
        return load_outdir(str(source))
    outdir = current_outdir()
    docs = load_outdir(str(outdir))
    stale = fingerprint.changes(outdir) if docs else [f"no stacks under {outdir}"]
    if stale:
        from modules.app import synth
        from modules.config import load_settings

        print(f"{outdir}: {'; '.join(stale)}: synthesizing the current settings first", file=sys.stderr)
        synth(load_settings(), outdir)
        fingerprint.write(outdir)
        docs = load_outdir(str(outdir))
    print(f"reading {describe(outdir)}", file=sys.stderr)
    return docs
