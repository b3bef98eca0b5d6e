"""`make deploy-local` runs independent stacks side by side, each once what it depends on is
up, and takes a stack down only after everything that depends on it is down; a failure
fails the run naming the stack, and nothing applied is left behind."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from tools.deploy.round_trip import (
    DeployLocalError,
    DriftError,
    emulator_settings,
    round_trip,
    run_in_dependency_order,
    stack_dependencies,
)

DEPS = {"state": set(), "a": {"state"}, "b": {"state"}, "c": {"state"}}


class Recorder:
    def __init__(self, fail_up: str | None = None, fail_down: str | None = None, together: int = 0) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.fail_up, self.fail_down = fail_up, fail_down
        # The leaves wait for each other inside `up`: only side by side can they all pass.
        self.barrier = threading.Barrier(together, timeout=10) if together else None

    def note(self, event: str) -> None:
        with self.lock:
            self.events.append(event)

    def up(self, name: str) -> None:
        self.note(f"up {name}")
        if self.barrier is not None and name != "state":
            self.barrier.wait()
        if name == self.fail_up:
            raise RuntimeError(f"apply of {name} failed")
        self.note(f"applied {name}")

    def down(self, name: str) -> None:
        self.note(f"down {name}")
        if name == self.fail_down:
            raise RuntimeError(f"plan of {name} shows changes")

    def index(self, event: str) -> int:
        return self.events.index(event)


def test_independent_stacks_run_side_by_side_after_what_they_depend_on() -> None:
    rec = Recorder(together=3)
    failures = run_in_dependency_order(DEPS, rec.up, rec.down, workers=3)
    assert failures == {}
    for leaf in ("a", "b", "c"):
        assert rec.index("applied state") < rec.index(f"up {leaf}"), "state's bucket exists before it is used"
        assert rec.index(f"down {leaf}") < rec.index("down state"), "state goes last"


def test_with_one_worker_the_order_still_holds() -> None:
    rec = Recorder()
    assert run_in_dependency_order(DEPS, rec.up, rec.down, workers=1) == {}
    assert rec.events[:2] == ["up state", "applied state"] and rec.events[-1] == "down state"


def test_a_failed_stack_is_named_and_everything_applied_comes_down() -> None:
    rec = Recorder(fail_up="b", fail_down="c")
    failures = run_in_dependency_order(DEPS, rec.up, rec.down, workers=3)
    assert set(failures) == {"b", "c"}
    assert {"down a", "down b", "down c", "down state"} <= set(rec.events), "a half-made stack is destroyed too"
    message = str(DeployLocalError(failures))
    assert "b: apply of b failed" in message and "c: plan of c shows changes" in message


def test_when_a_dependency_fails_its_dependents_never_start() -> None:
    rec = Recorder(fail_up="state")
    failures = run_in_dependency_order(DEPS, rec.up, rec.down, workers=3)
    assert set(failures) == {"state", "a", "b", "c"}
    assert str(failures["a"]) == "not started: state failed"
    assert rec.events == ["up state", "down state"]


def test_dependencies_come_from_the_cdktf_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        '{"stacks": {"state": {"dependencies": []}, "a": {"dependencies": ["state"]},'
        ' "b": {"dependencies": ["state", "a"]}}}'
    )
    assert stack_dependencies(tmp_path, ["a", "b"]) == {"a": set(), "b": {"a"}}, "only among the stacks asked for"


NETWORK_USERS = {"model-serving", "ha-failover", "target-groups", "stream-analytics"}


@pytest.mark.slow
def test_the_synthesized_manifest_makes_every_stack_wait_for_state_and_the_network_users_for_network(
    synth_dir: Path,
) -> None:
    """Every stack keeps its state in the state bucket; the four that run in a VPC read the
    shared network's at plan time (the default `network.mode`), so it must be applied first."""
    deps = stack_dependencies(synth_dir, [p.name for p in (synth_dir / "stacks").iterdir()])
    assert deps.pop("state") == set()
    assert {name: d for name, d in deps.items() if name in NETWORK_USERS} == {
        name: {"state", "network"} for name in NETWORK_USERS
    }
    others = {name: d for name, d in deps.items() if name not in NETWORK_USERS}
    assert others and all(d == {"state"} for d in others.values()), others


class FakeTerraform:
    """Records the commands of a round trip; ``plan_exit`` is the drift plan's exit code."""

    def __init__(self, plan_exit: int) -> None:
        self.plan_exit = plan_exit
        self.commands: list[tuple[str, ...]] = []

    def run(self, stack_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self.commands.append(args)
        code = self.plan_exit if args[0] == "plan" else 0
        out = "plan output" if args[0] == "plan" else ""  # `state pull` of nothing deployed: empty
        return subprocess.CompletedProcess(["terraform", *args], code, out, "")


@pytest.mark.parametrize("plan_exit", [0, 2])
def test_destroy_reads_resources_back_again_only_when_no_clean_plan_just_did(tmp_path: Path, plan_exit: int) -> None:
    """After a plan with no changes, destroy skips its refresh (the plan just read every
    resource); after a drifted (or failed) step it refreshes, since state may not be reality."""
    (tmp_path / "cdk.tf.json").write_text('{"terraform": {}}')  # local state: no bucket to make
    tf = FakeTerraform(plan_exit)
    settings = emulator_settings("http://127.0.0.1:1")
    if plan_exit:
        with pytest.raises(DriftError):
            round_trip(tf, settings, tmp_path)  # type: ignore[arg-type]
    else:
        round_trip(tf, settings, tmp_path)  # type: ignore[arg-type]
    # After a clean plan the stores are filled (read from `state pull`) before the destroy.
    filled = ["state"] if plan_exit == 0 else []
    assert [c[0] for c in tf.commands] == ["init", "apply", "plan", *filled, "destroy"]
    assert ("-refresh=false" in tf.commands[-1]) is (plan_exit == 0), tf.commands[-1]
