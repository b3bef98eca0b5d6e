"""The app: every registered stack synthesizes, and a failed synth writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules import app as app_module
from modules.app import STACKS, synth
from tests.conftest import StackDoc, settings_from


def test_every_registered_stack_is_synthesized(stacks: dict[str, StackDoc], synth_dir: Path) -> None:
    assert list(stacks) == sorted(STACKS)
    for name in STACKS:
        assert (synth_dir / "stacks" / name / "cdk.tf.json").is_file()


def test_state_is_first_in_deploy_order() -> None:
    assert next(iter(STACKS)) == "state"


def test_unknown_stack_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown stack"):
        synth(settings_from(), tmp_path / "out", only=["nope"])


def test_a_failing_synth_leaves_the_previous_output_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outdir = tmp_path / "cdktf.out"
    (outdir / "stacks" / "old").mkdir(parents=True)
    (outdir / "stacks" / "old" / "cdk.tf.json").write_text("{}")

    def broken(*_: object) -> None:
        raise RuntimeError("builder failed half-way")

    monkeypatch.setitem(app_module.STACKS, "broken", broken)
    with pytest.raises(RuntimeError, match="half-way"):
        synth(settings_from(), outdir)
    assert [p.name for p in (outdir / "stacks").iterdir()] == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["cdktf.out"], "no staging directory left behind"
