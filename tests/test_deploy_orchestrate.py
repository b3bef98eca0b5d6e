"""`make deploy` / `make destroy` / `make plan` of one environment, without AWS: the order of the
stacks, what a destroy takes down, the checks before a deploy (on fake executables and fake
accounts), and a protected environment's destroy refused before anything is touched."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import NoCredentialsError

from modules.config import Settings
from tests.conftest import PROD_ALARMS, PROJECT_ROOT, settings_from
from tools.deploy import orchestrate, prechecks
from tools.deploy.order import Refused, chosen_stacks, dependencies, destroy_targets, protected_resources, waves

REGISTRY_ORDER = [
    "state",
    "alarms",  # built on demand: in the synth only when [alarms] names subscribers
    "network",
    "stream-analytics",
    "model-serving",
    "ha-failover",
    "target-groups",
    "event-processing",
]


def test_stacks_run_in_layers_after_what_they_depend_on(synth_dir: Path) -> None:
    deps = dependencies(synth_dir)
    order = waves(deps, [name for name in chosen_stacks((), ()) if name in deps])
    assert order[0] == ["state"], "state holds everyone's state: alone, first"
    assert order[1] == ["network", "event-processing"]
    assert order[2] == ["stream-analytics", "model-serving", "ha-failover", "target-groups"], "on the shared VPC"
    assert waves(deps, ["model-serving", "event-processing"]) == [["model-serving", "event-processing"]], (
        "a dependency outside the run is taken as deployed"
    )
    with pytest.raises(ValueError, match="cycle"):
        waves({"a": {"b"}, "b": {"a"}}, ["a", "b"])


def test_the_chosen_stacks_follow_the_registry_and_refuse_unknown_names() -> None:
    assert chosen_stacks((), ()) == REGISTRY_ORDER
    assert chosen_stacks(("event-processing", "state"), ()) == ["state", "event-processing"]
    with pytest.raises(Refused, match=r"unknown stack.*nope"):
        chosen_stacks((), ("nope",))
    with pytest.raises(Refused, match="network not built"):
        chosen_stacks(("state",), ("network",))


def test_destroy_keeps_state_unless_asked_and_never_strands_a_dependent(synth_dir: Path) -> None:
    deps = dependencies(synth_dir)
    synthesized = [name for name in REGISTRY_ORDER if name in deps]  # no alarms stack in the default synth
    assert destroy_targets(synthesized, deps, with_state=False) == synthesized[1:]
    assert destroy_targets(synthesized, deps, with_state=True) == synthesized
    with pytest.raises(Refused) as exc:
        destroy_targets(["network"], deps, with_state=False)
    assert "network: ha-failover, model-serving, stream-analytics, target-groups depend(s) on it" in str(exc.value)
    backwards = list(reversed(waves(deps, synthesized)))
    assert backwards[-1] == ["state"] and backwards[-2] == ["network", "event-processing"]


def test_the_programs_a_deploy_needs_come_from_the_local_exec_steps(stacks: dict[str, Any]) -> None:
    needed = prechecks.needed_programs(stacks)
    assert sorted(needed) == ["aws", "docker"]
    assert {user.split(":")[0] for user in needed["docker"]} == {"model-serving"}
    assert {user.split(":")[0] for user in needed["aws"]} == {"model-serving", "event-processing"}
    step = {"count": 0, "provisioner": [{"local-exec": {"command": "docker ps"}}]}
    left_out = {"resource": {"terraform_data": {"x": step}}}
    assert prechecks.needed_programs({"s": left_out}) == {}, "a step left out (count = 0) never runs"


def fake_bin(tmp_path: Path, **programs: int) -> str:
    """A PATH holding only ``programs``, each a script that exits with the given code."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name, code in programs.items():
        script = folder / name
        script.write_text(f"#!/bin/sh\nexit {code}\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(folder)


NEEDED = {"docker": ["model-serving: terraform_data.image_build"], "aws": ["event-processing: terraform_data.shift"]}


def test_each_missing_program_gets_one_message_naming_who_needs_it(tmp_path: Path) -> None:
    problems = prechecks.program_problems(NEEDED, path=fake_bin(tmp_path))
    assert len(problems) == 2
    assert problems[0].startswith("aws: not found on PATH; needed by event-processing") and "AWS CLI" in problems[0]
    assert problems[1].startswith("docker: not found on PATH; needed by model-serving")
    assert prechecks.program_problems(NEEDED, path=fake_bin(tmp_path, docker=0, aws=0)) == []


def test_docker_whose_daemon_does_not_answer_is_named(tmp_path: Path) -> None:
    (problem,) = prechecks.program_problems(NEEDED, path=fake_bin(tmp_path, docker=1, aws=0))
    assert "daemon does not answer" in problem and "serving.image_uri" in problem


def test_the_cli_node_and_terraform_are_checked(tmp_path: Path) -> None:
    problems = prechecks.tool_problems(path=fake_bin(tmp_path), cli=tmp_path / "no-cdktf")
    assert [p.split(":")[0] for p in problems] == ["the cdktf CLI", "node", "terraform"]
    assert "make setup" in problems[0]
    assert prechecks.tool_problems(path=fake_bin(tmp_path, node=0, terraform=0), cli=tmp_path / "bin" / "node") == []
    assert prechecks.tool_problems(path=fake_bin(tmp_path, terraform=0), cli=None) == [], "a plan needs no CLI"


def test_credentials_and_the_pinned_account_are_checked() -> None:
    pinned = settings_from({"RAI_ACCOUNT_ID": "111111111111"})
    (problem,) = prechecks.account_problems(pinned, who=lambda _: "123456789012")
    assert problem.startswith("account_id:") and "111111111111" in problem and "123456789012" in problem
    assert prechecks.account_problems(pinned, who=lambda _: "111111111111") == []
    assert prechecks.account_problems(settings_from(), who=lambda _: "123456789012") == [], "unpinned: any account"

    def no_credentials(_: Settings) -> str:
        raise NoCredentialsError()

    (problem,) = prechecks.account_problems(pinned, who=no_credentials)
    assert problem.startswith("AWS credentials:") and "AWS_PROFILE" in problem


def test_a_failure_stops_the_run_after_its_layer() -> None:
    ran: list[str] = []

    def step(name: str) -> None:
        ran.append(name)
        if name == "b":
            raise RuntimeError("cdktf deploy b exited 1")

    outcome = orchestrate.run_layers([["a"], ["b", "c"], ["d"]], step, side_by_side=False)
    assert ran == ["a", "b", "c"] and outcome.done == ["a", "c"]
    assert outcome.failed == {"b": "cdktf deploy b exited 1"} and outcome.not_started == ["d"]


def test_a_protected_environments_destroy_is_refused_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """ENV=prod: refused on the synth alone, naming what is protected and the way out; no
    cdktf, Terraform or AWS call, no synth output left (not even the staged one)."""
    monkeypatch.setenv("RAI_ENV", "prod")
    monkeypatch.setenv("RAI_TOOLING_STACKS", "state")
    for name, value in PROD_ALARMS.items():
        monkeypatch.setenv(name, value)

    def touched(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"touched: {args}")

    monkeypatch.setattr(orchestrate, "CdktfCli", touched)
    monkeypatch.setattr(prechecks, "caller_account", touched)
    outdir = tmp_path / "cdktf.out.prod"
    with pytest.raises(Refused) as exc:
        orchestrate.ready(orchestrate.Request("destroy", with_state=True), outdir=outdir)
    text = orchestrate.refusal_text("destroy", exc.value.problems)
    assert "environment prod is protected (protected unset: true for prod)" in text
    assert "state: aws_kms_key.key_" in text and "aws_s3_bucket.bucket_" in text and "(state/bucket/bucket)" in text
    assert "protected = false" in text and "make destroy ENV=prod" in text
    assert list(tmp_path.iterdir()) == [], "nothing written"
    assert not list(PROJECT_ROOT.glob(".cdktf.out*check*")), "no staged synth left in the project"


def test_a_deploy_missing_a_tool_or_on_the_wrong_account_is_refused_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    """Every check of a deploy, one line each, before the synth takes its place or the CLI runs."""
    import shutil

    node = shutil.which("node")
    assert node is not None
    path = fake_bin(tmp_path)
    (Path(path) / "node").symlink_to(node)  # jsii needs it for the synth; terraform is missing
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("RAI_TOOLING_STACKS", "state")
    monkeypatch.setenv("RAI_ACCOUNT_ID", "111111111111")
    monkeypatch.setattr(prechecks, "caller_account", lambda _: "123456789012")
    monkeypatch.setattr(orchestrate, "CdktfCli", None)  # never built
    outdir = tmp_path / "out" / "cdktf.out"
    with pytest.raises(Refused) as exc:
        orchestrate.ready(orchestrate.Request("deploy"), outdir=outdir)
    assert [p.split(":")[0] for p in exc.value.problems] == ["terraform", "account_id"]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == [], "nothing written"


def test_protected_resources_are_read_from_the_synthesized_json(protected_stacks: dict[str, Any]) -> None:
    found = protected_resources(protected_stacks)
    assert any(item.startswith("aws_s3_bucket.") for item in found["state"])
    assert all("(" in item and ")" in item for items in found.values() for item in items), "with construct paths"
