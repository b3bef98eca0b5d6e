"""`cdktf synth` (the pinned CLI from package-lock.json) writes the same stacks as main.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, StackDoc, load_stacks

CDKTF = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"


@pytest.mark.slow
def test_cdktf_synth_produces_the_same_stacks(stacks: dict[str, StackDoc], tmp_path: Path) -> None:
    if not CDKTF.exists():
        pytest.fail("node_modules/.bin/cdktf missing: run `make setup`")
    outdir = tmp_path / "cdktf.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAI_")}
    env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
    env["CHECKPOINT_DISABLE"] = "1"
    proc = subprocess.run(
        [str(CDKTF), "synth", "--output", str(outdir)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert json.dumps(load_stacks(outdir), sort_keys=True) == json.dumps(stacks, sort_keys=True)
    shutil.rmtree(outdir, ignore_errors=True)
