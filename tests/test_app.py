"""The app: every registered stack synthesizes, and a failed synth writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modules import app as app_module
from modules.app import STACKS, build_app, synth
from modules.registry import STACKS as REGISTERED
from modules.stack.base import BaseStack
from tests.conftest import StackDoc, settings_from

# Built only when their settings ask for them (the `alarms` stack: [alarms] subscribers).
ON_DEMAND = {entry.name for entry in REGISTERED if entry.on_demand}
DEFAULT_STACKS = [name for name in STACKS if name not in ON_DEMAND]


def test_every_registered_stack_is_synthesized(stacks: dict[str, StackDoc], synth_dir: Path) -> None:
    assert list(stacks) == sorted(DEFAULT_STACKS)
    for name in DEFAULT_STACKS:
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


def _manifest_dependencies(outdir: Path) -> dict[str, set[str]]:
    """Stack name -> the names of the stacks it depends on, from cdktf's manifest.json
    (entries resolved by name, whatever ids cdktf keys them by)."""
    manifest = json.loads((outdir / "manifest.json").read_text())["stacks"]
    name_of = {key: entry["name"] for key, entry in manifest.items()}
    name_of.update({entry["constructPath"]: entry["name"] for entry in manifest.values()})
    return {entry["name"]: {name_of[d] for d in entry["dependencies"]} for entry in manifest.values()}


def test_every_stack_with_state_in_the_bucket_depends_on_state(stacks: dict[str, StackDoc], synth_dir: Path) -> None:
    """`cdktf deploy '*'` applies `state` first, `cdktf destroy '*'` destroys it last."""
    remote = {name for name, doc in stacks.items() if "s3" in doc["terraform"]["backend"]}
    assert remote == set(DEFAULT_STACKS) - {"state"}
    dependencies = _manifest_dependencies(synth_dir)
    assert {name: deps & {"state"} for name, deps in dependencies.items()} == {
        "state": set(),
        **{name: {"state"} for name in remote},
    }
    assert "dependencies" not in json.dumps(stacks), "the dependency is in the manifest only"


def test_every_stack_that_reads_the_shared_network_depends_on_the_network_stack(synth_dir: Path) -> None:
    """`cdktf deploy '*'` applies `network` before the stacks that look its VPC up at plan time
    (their plan fails without it), `cdktf destroy '*'` destroys it after them."""
    dependencies = _manifest_dependencies(synth_dir)
    users = {name for name, deps in dependencies.items() if "network" in deps}
    assert users == {"model-serving", "ha-failover", "target-groups", "stream-analytics"}
    assert dependencies["network"] == {"state"} and "network" not in dependencies["event-processing"]


def test_no_stack_depends_on_the_network_stack_unless_the_network_is_shared(tmp_path: Path) -> None:
    """With `per_stack` (each its own VPC) the `network` stack is empty and nothing waits for it."""
    app = build_app(settings_from({"RAI_NETWORK_MODE": "per_stack"}), tmp_path, only=["network", "model-serving"])
    stacks = {s.node.id: s for s in app.node.children if isinstance(s, BaseStack)}
    assert stacks["model-serving"].dependencies == [] and stacks["model-serving"].uses_stacks == set()


def test_a_stack_that_does_not_declare_the_network_it_reads_depends_on_nothing(tmp_path: Path) -> None:
    """The network pattern writes nothing into the stack: the dependency is the stack's own
    declaration (``network_stacks``), so a stack that reads the shared VPC without declaring it
    gets none. The stacks above declare it."""
    from cdktf import App

    from modules.patterns.network import network_stacks, stack_network

    settings = settings_from()
    stack = BaseStack(App(outdir=str(tmp_path)), "reader", settings=settings)
    stack_network(stack, settings, name="reader", logs_kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/k")
    assert stack.uses_stacks == set()
    assert network_stacks(settings) == {"network"}
    for mode in ("per_stack", "existing"):
        assert (
            network_stacks(settings.model_copy(update={"network": settings.network.model_copy(update={"mode": mode})}))
            == set()
        )


def test_no_dependency_on_state_without_it_or_on_itself() -> None:
    """``only=`` without `state`: nothing to depend on; `state` with its own state in its
    bucket (bootstrap_backend = s3) does not depend on itself."""
    from modules.app import build_app

    app = build_app(settings_from(), Path("/nonexistent"), only=["event-processing"])
    (stack,) = [s for s in app.node.children if isinstance(s, BaseStack)]
    assert stack.dependencies == []
    app = build_app(settings_from({"RAI_STATE_BOOTSTRAP_BACKEND": "s3"}), Path("/nonexistent"), only=["state"])
    (state,) = [s for s in app.node.children if isinstance(s, BaseStack)]
    assert state.backend == "s3" and state.dependencies == []


def test_a_new_synth_keeps_what_terraform_wrote_into_each_stack_directory(tmp_path: Path) -> None:
    """Every cdktf command synthesizes first: the `state` stack's local state (in its stack
    directory against the emulator), `.terraform/` and the lock file survive it; the
    directory of a stack no longer synthesized goes, as with cdktf's own synth."""
    outdir = tmp_path / "cdktf.out"
    synth(settings_from(), outdir, only=["state"])
    state_dir = outdir / "stacks" / "state"
    (state_dir / "terraform.state.tfstate").write_text('{"serial": 7}')
    (state_dir / ".terraform" / "providers").mkdir(parents=True)
    (state_dir / ".terraform.lock.hcl").write_text("# lock")
    (state_dir / "cdk.tf.json").write_text("{}")
    (outdir / "stacks" / "gone").mkdir()
    (outdir / "stacks" / "gone" / "cdk.tf.json").write_text("{}")
    synth(settings_from(), outdir, only=["state"])
    assert (state_dir / "terraform.state.tfstate").read_text() == '{"serial": 7}'
    assert (state_dir / ".terraform" / "providers").is_dir() and (state_dir / ".terraform.lock.hcl").is_file()
    assert json.loads((state_dir / "cdk.tf.json").read_text())["resource"], "the synthesized files are new"
    assert [p.name for p in (outdir / "stacks").iterdir()] == ["state"]
    assert [p.name for p in tmp_path.iterdir()] == ["cdktf.out"], "no staging or old directory left behind"
