#!/usr/bin/env python
"""Synthesize every stack: `python main.py` (or `cdktf synth`).

Writes cdktf.out/stacks/<name>/cdk.tf.json for each stack in modules/registry.py (or
those in ``tooling.stacks``), or nothing at all when the settings are invalid. An environment
other than the default ``dev`` writes into cdktf.out.<environment>/ (docs/environments.md).
"""

from __future__ import annotations

import os
import sys

from modules.config import SettingsError, load_settings
from modules.config.environments import chosen_outdir, outdir_problem
from modules.core import fingerprint


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    outdir = chosen_outdir(settings.environment)
    problem = outdir_problem(settings.environment, outdir)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # the pinned Node (20) is EOL
    from modules.app import synth  # after the settings check: bad settings cost no jsii start-up
    from modules.policy.check import PolicyError

    try:
        only = list(settings.tooling.stacks) or None
        paths = synth(settings, outdir, only, on_waiver=lambda f: print(f"policy waiver: {f}"))
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyError as exc:  # tooling.stacks names an unknown stack
        print(f"tooling.stacks: {exc.args[0]}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"synthesized {path.parent.name}: {path}")
    fingerprint.write(outdir)  # what `make cost` and the other readers compare against
    return 0


if __name__ == "__main__":
    sys.exit(main())
