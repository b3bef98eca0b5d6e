"""Nothing silently out of date: a synth records its inputs, and `make cost` (and the scorecard
of a given synth) synthesizes first or says which synth it reads and why it is stale."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest

from modules.core import fingerprint
from tools import current_synth


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "modules").mkdir(parents=True)
    (root / "modules" / "a.py").write_text("A = 1\n")
    (root / "handlers").mkdir()
    (root / "main.py").write_text("print()\n")
    (root / "settings.toml").write_text('region = "us-east-1"\n')
    return root


def test_a_fresh_fingerprint_has_no_changes(project: Path, tmp_path: Path) -> None:
    fingerprint.write(tmp_path, {"RAI_REGION": "us-east-1", "HOME": "/x"}, project)
    assert fingerprint.changes(tmp_path, {"RAI_REGION": "us-east-1", "HOME": "/y"}, project) == []
    recorded = json.loads((tmp_path / fingerprint.FINGERPRINT_FILE).read_text())
    assert "us-east-1" not in json.dumps(recorded["environment"]), "values are hashed, never written"


def test_each_kind_of_change_is_named(project: Path, tmp_path: Path) -> None:
    env = {"RAI_REGION": "us-east-1"}
    fingerprint.write(tmp_path, env, project)
    (project / "modules" / "a.py").write_text("A = 2\n")
    (project / "settings.toml").write_text('region = "eu-west-1"\n')
    (project / "environments").mkdir()
    (project / "environments" / "prod.toml").write_text("")
    assert fingerprint.changes(tmp_path, {"RAI_REGION": "eu-west-1", "RAI_AZ_COUNT": "2"}, project) == [
        "code changed since: modules/a.py",
        "settings files changed since: environments/prod.toml, settings.toml",
        "RAI_ variables changed since: RAI_AZ_COUNT, RAI_REGION",
    ]


def test_a_synth_without_a_record_is_stale(tmp_path: Path) -> None:
    assert fingerprint.changes(tmp_path) == [f"no record of its inputs ({fingerprint.FINGERPRINT_FILE})"]


def _fake_synth(outdir: Path) -> None:
    stack = outdir / "stacks" / "state"
    stack.mkdir(parents=True, exist_ok=True)
    (stack / "cdk.tf.json").write_text(json.dumps({"resource": {}}))


def test_cost_synthesizes_first_when_the_settings_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    outdir = tmp_path / "cdktf.out"
    monkeypatch.setenv("CDKTF_OUTDIR", str(outdir))
    for name in [n for n in os.environ if n.startswith("RAI_")]:
        monkeypatch.delenv(name)
    calls: list[Path] = []
    # A stand-in for the app (its real synth is tested elsewhere; importing it starts jsii).
    app = types.ModuleType("modules.app")

    def synth(settings: object, out: Path, *args: object, **kwargs: object) -> None:
        calls.append(out)
        _fake_synth(out)

    app.synth = synth  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "modules.app", app)
    _fake_synth(outdir)
    fingerprint.write(outdir)
    assert [d.name for d in current_synth.current_stacks()] == ["state"] and calls == []
    assert "(up to date with the code and settings)" in capsys.readouterr().err

    monkeypatch.setenv("RAI_AZ_COUNT", "2")
    current_synth.current_stacks()
    err = capsys.readouterr().err
    assert calls == [outdir]
    assert "RAI_ variables changed since: RAI_AZ_COUNT: synthesizing the current settings first" in err
    assert fingerprint.changes(outdir) == [], "the new synth is recorded"


def test_a_given_synth_is_read_as_it_is_and_named_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_synth(tmp_path)
    assert [d.name for d in current_synth.current_stacks(tmp_path)] == ["state"]
    assert f"reading {tmp_path} (out of date: no record of its inputs" in capsys.readouterr().err
