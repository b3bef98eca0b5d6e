"""``make chaos``: the listing of a synth's experiments, and a run on the emulator.

The listing reads hand-written Terraform JSON in the shape the stacks synthesize (an
``aws_fis_experiment_template`` whose stop conditions reference alarms of the same stack).
The runs go through the real tool in a child process (``make chaos RUN=`` or ``python -m
tools.chaos --run``) against a moto server, with an alarm and a template made by boto3.

moto's FIS keeps templates, experiments, their tags and states and injects nothing; by
default each GetExperiment moves an experiment one state on (pending, initiating, running,
completed; stopping, stopped). A test that must keep an experiment going holds it with moto's
state manager (``manual`` with a huge count) and lets it move once the tool has sent the stop.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from modules.config import env_var, load_settings
from modules.config.sources import SETTINGS_FILE_ENV
from modules.core.paths import PROJECT_ROOT
from modules.policy.document import StackDocument, load_outdir
from tools.chaos import listing
from tools.chaos.progress import PlainDisplay, Snapshot, TerminalDisplay
from tools.chaos.runner import ExitCode, Run, alarm_name, outcome
from tools.deploy.clients import aws_client
from tools.harness.moto_server import MotoServer, stop_process_group

ALARM = "${aws_cloudwatch_metric_alarm.%s.arn}"


def _template(key: str, alarms: list[str], **extra: Any) -> dict[str, Any]:
    """An experiment template as the stacks write it (docs: CHAOS_CONTRACT, cdktf's JSON)."""
    return {
        "//": {"metadata": {"path": f"model-serving/serving/chaos/experiment-{key}"}},
        "description": "Stop half of the service's tasks. Hypothesis: 5xx < 1 %; running tasks back within 3 min",
        "role_arn": "${aws_iam_role.chaos_role.arn}",
        "stop_condition": [{"source": "aws:cloudwatch:alarm", "value": ALARM % a} for a in alarms],
        "action": [
            {"name": "stop-tasks", "action_id": "aws:ecs:stop-task", "target": {"key": "Tasks", "value": "tasks"}}
        ],
        "target": [
            {
                "name": "tasks",
                "resource_type": "aws:ecs:task",
                "selection_mode": "PERCENT(50)",
                "parameters": {"cluster": "${aws_ecs_cluster.cluster.name}", "service": "${aws_ecs_service.svc.name}"},
            }
        ],
        "tags": {"Name": f"rai-dev-ms-{key}", "experiment": key, "hypothesis": "5xx < 1 %; tasks back in 3 min"},
        **extra,
    }


def _stack(name: str, templates: dict[str, Any]) -> dict[str, Any]:
    def alarm(alarm_id: str, alarm_name: str) -> dict[str, Any]:
        return {"//": {"metadata": {"path": f"{name}/obs/{alarm_id}"}}, "alarm_name": alarm_name}

    resources: dict[str, Any] = {
        "aws_cloudwatch_metric_alarm": {
            "target_5xx": alarm("target_5xx", "rai-dev-ms-target-5xx"),
            "latency": alarm("latency", "rai-dev-ms-p99-latency"),
        },
        "aws_ecs_cluster": {"cluster": {"//": {"metadata": {"path": f"{name}/serving/cluster"}}}},
        "aws_ecs_service": {"svc": {"//": {"metadata": {"path": f"{name}/serving/service"}}}},
    }
    if templates:
        resources["aws_fis_experiment_template"] = templates
    data = {
        "aws_caller_identity": {"account": {"//": {"metadata": {"path": f"{name}/account"}}}},
        "aws_subnet": {"private-0_A06": {"//": {"metadata": {"path": f"{name}/network/private-0"}}}},
    }
    return {"resource": resources, "data": data}


def _outdir(tmp_path: Path, stacks: dict[str, dict[str, Any]]) -> Path:
    for name, doc in stacks.items():
        folder = tmp_path / "cdktf.out" / "stacks" / name
        folder.mkdir(parents=True)
        (folder / "cdk.tf.json").write_text(json.dumps(doc))
    return tmp_path / "cdktf.out"


def _az_outage() -> dict[str, Any]:
    """A subnet target by ARN (built from data sources) and an instance target by tag."""
    template = _template("az-outage", ["latency"])
    account = "${data.aws_caller_identity.account.account_id}"
    subnet = f"arn:aws:ec2:us-east-1:{account}:subnet/${{data.aws_subnet.private-0_A06.id}}"
    template["target"] = [
        {"name": "az", "resource_type": "aws:ec2:subnet", "selection_mode": "ALL", "resource_arns": [subnet]},
        {
            "name": "one",
            "resource_type": "aws:ec2:instance",
            "selection_mode": "COUNT(1)",
            "resource_tag": [{"key": "aws:autoscaling:groupName", "value": "${aws_ecs_cluster.cluster.name}"}],
        },
    ]
    return template


def test_listing_names_the_stop_alarms_by_name_and_the_targets_by_what_scopes_them(tmp_path: Path) -> None:
    """An operator checks a stop condition by the alarm's name (what the console shows), not
    by a Terraform reference; and a target by the cluster/service, subnet or group it is
    confined to, named by construct path."""
    templates = {"stop": _template("stop-tasks", ["target_5xx", "latency"]), "az": _az_outage()}
    out = _outdir(tmp_path, {"model-serving": _stack("model-serving", templates), "event-processing": _stack("ep", {})})
    text = listing.render(load_outdir(str(out)), 400, "fixture")
    assert "model-serving/stop-tasks" in text
    assert "rai-dev-ms-target-5xx" in text and "rai-dev-ms-p99-latency" in text
    assert "${" not in text, "every reference is resolved to a name or path"
    assert "tasks: aws:ecs:task PERCENT(50) (cluster=serving/cluster; service=serving/service)" in text
    assert "Stop half of the service's tasks" in text and "Hypothesis" not in text, "fault without the hypothesis"
    assert "5xx < 1 %; tasks back in 3 min" in text
    assert "stop-tasks: aws:ecs:stop-task (Tasks -> tasks)" in text
    assert "Stacks without experiments: event-processing." in text
    (az, _) = listing.experiments(load_outdir(str(out))[1])
    assert az.targets == (
        "az: aws:ec2:subnet ALL (arns subnet/network/private-0)",
        "one: aws:ec2:instance COUNT(1) (tag aws:autoscaling:groupName=serving/cluster)",
    )


def test_listing_flags_a_stop_condition_that_is_no_alarm_of_the_stack_and_an_unscoped_target(tmp_path: Path) -> None:
    """Such a template would run unguarded or hit resources of another stack: the listing says so."""
    bad = _template("az-outage", [])
    bad["stop_condition"] = [{"source": "aws:cloudwatch:alarm", "value": "arn:aws:cloudwatch:us-east-1:1:alarm:x"}]
    bad["target"][0].pop("parameters")
    (experiment,) = listing.experiments(StackDocument("model-serving", _stack("model-serving", {"az": bad})))
    assert experiment.stop_alarms == ("arn:aws:cloudwatch:us-east-1:1:alarm:x (not an alarm of this stack)",)
    assert experiment.targets == ("tasks: aws:ecs:task PERCENT(50) (NOT SCOPED)",)


def test_listing_says_there_are_no_experiments_when_chaos_is_disabled(tmp_path: Path) -> None:
    out = _outdir(tmp_path, {"model-serving": _stack("model-serving", {}), "state": {"resource": {}}})
    text = listing.render(load_outdir(str(out)), 160, "fixture")
    assert text.startswith("No chaos experiments in fixture (2 stacks): chaos is disabled (chaos.enabled = false")


def test_listing_wraps_long_fields_inside_the_terminal_width_and_never_cuts_a_name() -> None:
    """Prose wraps under its label; an alarm name or ARN longer than the room stays whole (an
    operator copies it)."""
    lines = listing.field_lines("hypothesis", ["word " * 60], 60)
    assert max(len(line) for line in lines) <= 60 and len(lines) > 3
    assert all(line.startswith(" " * (2 + listing.LABEL_WIDTH)) for line in lines[1:]), "continued under the label"
    long_name = "resilient-ai-dev-serving-" + "x" * 80
    (line,) = listing.field_lines("stop alarms", [long_name], 60)
    assert line.endswith(long_name)


def test_an_alarm_arn_gives_its_name_even_with_colons() -> None:
    assert alarm_name("arn:aws:cloudwatch:us-east-1:123456789012:alarm:a:b") == "a:b"


@pytest.mark.parametrize(
    ("status", "reason", "seen", "code"),
    [
        ("completed", "Experiment completed", set(), ExitCode.COMPLETED),
        ("failed", "Target resolution failed", set(), ExitCode.FAILED),
        ("stopped", "Experiment stopped by stop condition", set(), ExitCode.STOPPED_BY_ALARM),
        ("stopped", "Experiment stopped", {"rai-dev-ms-target-5xx"}, ExitCode.STOPPED_BY_ALARM),
        ("stopped", "Experiment stopped", set(), ExitCode.STOPPED_ELSEWHERE),
    ],
)
def test_a_final_state_the_runner_did_not_cause_gets_its_own_exit_code(
    status: str, reason: str, seen: set[str], code: ExitCode
) -> None:
    """A stop by FIS on an alarm and a stop by someone in the console are different news."""
    notes: list[str] = []

    class Notes(PlainDisplay):
        def note(self, text: str) -> None:
            notes.append(text)

    run = Run(experiment_id="EXP1", alarms_seen=seen)
    assert outcome({"state": {"status": status, "reason": reason}}, run, Notes(sys.stdout)) == code
    assert notes == [f"experiment EXP1 {status}: {reason} -> exit {int(code)} ({code.name})"]


def test_plain_progress_prints_changes_and_a_heartbeat_not_every_poll() -> None:
    """A CI log gets a line per change (and one every 30 s), not one per 5-second poll."""

    class Lines:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def write(self, text: str) -> None:
            self.lines += [t for t in text.splitlines() if t]

        def flush(self) -> None:
            pass

    out = Lines()
    display = PlainDisplay(out)  # type: ignore[arg-type]

    def snap(t: float, status: str, alarm: str = "OK") -> Snapshot:
        return Snapshot(t, status, "", (("stop-tasks", status),), (("a", alarm),))

    for t, status, alarm in [
        (0, "running", "OK"),
        (5, "running", "OK"),
        (10, "running", "ALARM"),
        (45, "running", "ALARM"),
    ]:
        display.show(snap(t, status, alarm))
    assert [line.split("]")[0].strip("[ ") for line in out.lines] == ["0s", "10s", "45s"]


def test_on_a_terminal_the_block_is_redrawn_in_place_and_a_note_stays_above_it() -> None:
    out = io.StringIO()
    display = TerminalDisplay(out)
    display.show(Snapshot(0, "running", "", (("stop-tasks", "running"),), (("a", "OK"),)))
    display.note("stop alarm a is in ALARM")
    display.show(Snapshot(5, "running", "", (("stop-tasks", "running"),), (("a", "ALARM"),)))
    text = out.getvalue()
    assert text.count("\x1b[3F\x1b[J") == 2, "the note and the next poll each clear the 3 lines drawn before"
    assert text.index("stop alarm a is in ALARM\n") < text.rindex("experiment"), "the note, then the block again"
    assert "\x1b[31mALARM\x1b[0m" in text, "an alarm in ALARM shows red"


# --- runs against the emulator --------------------------------------------------------

MOTO_MODEL = "fis::experiment"
HOLD = {"progression": "manual", "times": 10**9}


@dataclass
class Tool:
    """The tool as a child process, its stdout read line by line on a thread."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout_s: float = 30) -> str:
        """The first line from now on matching ``pattern``; fails after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(
            f"no line matching {pattern!r} within {timeout_s} s; output so far:\n" + "\n".join(self.seen)
        )

    def finish(self, timeout_s: float = 30) -> int:
        code = self.proc.wait(timeout=timeout_s)
        if self.reader is not None:
            self.reader.join(timeout_s)  # the pipe's end: every line is in the queue
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code


@dataclass
class Rig:
    endpoint: str
    env: dict[str, str]
    fis: Any
    cloudwatch: Any
    tools: list[Tool] = field(default_factory=list)

    def alarm(self, name: str) -> str:
        self.cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="HTTPCode_Target_5XX_Count",
            Namespace="AWS/ApplicationELB",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
        self.set_alarm(name, "OK")
        return str(self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"])

    def set_alarm(self, name: str, state: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")

    def template(self, stack: str, key: str, alarm_arns: list[str], environment: str = "dev") -> str:
        created = self.fis.create_experiment_template(
            description="Stop half of the service's tasks. Hypothesis: 5xx < 1 %",
            roleArn="arn:aws:iam::123456789012:role/rai-dev-ms-chaos",
            stopConditions=[{"source": "aws:cloudwatch:alarm", "value": arn} for arn in alarm_arns],
            actions={"stop-tasks": {"actionId": "aws:ecs:stop-task", "targets": {"Tasks": "tasks"}}},
            targets={
                "tasks": {
                    "resourceType": "aws:ecs:task",
                    "selectionMode": "PERCENT(50)",
                    "parameters": {"cluster": "rai-dev-ms", "service": "rai-dev-ms-server"},
                }
            },
            tags={"stack": stack, "experiment": key, "project": "resilient-ai", "environment": environment},
        )
        return str(created["experimentTemplate"]["id"])

    def experiments(self, template_id: str) -> list[dict[str, Any]]:
        found = self.fis.list_experiments(experimentTemplateId=template_id)["experiments"]
        return [self.fis.get_experiment(id=e["id"])["experiment"] for e in found]

    def hold_experiments(self, hold: bool) -> None:
        """moto's state manager: hold every experiment where it is, or let it move per read again."""
        path, body = (
            ("set-transition", {"model_name": MOTO_MODEL, "transition": HOLD})
            if hold
            else ("unset-transition", {"model_name": MOTO_MODEL})
        )
        request = urllib.request.Request(f"{self.endpoint}/moto-api/state-manager/{path}", json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 201)

    def held_run(self, name: str, *args: str, make: bool = False) -> tuple[str, Tool]:
        """A template for ``name`` with one stop alarm (``rai-dev-<key>``), experiments held
        where they are, and the tool running it (polling every 0.2 s)."""
        stack, key = name.split("/")
        template_id = self.template(stack, key, [self.alarm(f"rai-dev-{key}")])
        self.hold_experiments(True)
        command = (f"RUN={name}", "POLL=0.2") if make else ("--run", name, "--poll", "0.2")
        return template_id, self.tool(*command, *args, make=make)

    def release(self, tool: Tool, template_id: str, code: ExitCode) -> int:
        """Once the tool has sent its stop, let FIS finish it: the tool reports ``code``, the
        experiment is stopped. The process's own exit code."""
        if not any("StopExperiment sent" in line for line in tool.seen):
            tool.expect(r"StopExperiment sent")
        self.hold_experiments(False)
        tool.expect(rf"-> exit {int(code)} \({code.name}\)$")
        returned = tool.finish()
        assert [e["state"]["status"] for e in self.experiments(template_id)] == ["stopped"]
        return returned

    def tool(self, *args: str, make: bool = False) -> Tool:
        command = (
            ["make", "--no-print-directory", "chaos", *args] if make else [sys.executable, "-m", "tools.chaos", *args]
        )
        proc = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.tools.append(Tool(proc))
        return self.tools[-1]


@pytest.fixture
def rig(moto: MotoServer, tmp_path: Path) -> Iterator[Rig]:
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text("")  # the defaults, whatever the developer's settings.toml says
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAI_")}
    env |= {SETTINGS_FILE_ENV: str(settings_file), env_var(None, "emulator_endpoint"): moto.endpoint}
    settings = load_settings(environ=env)
    assert (settings.project, settings.environment) == ("resilient-ai", "dev"), "the tags the templates carry"
    rig = Rig(
        moto.endpoint, env | {"PYTHONUNBUFFERED": "1"}, aws_client("fis", settings), aws_client("cloudwatch", settings)
    )
    yield rig
    for tool in rig.tools:  # a failed test leaves no run polling a held experiment
        stop_process_group(tool.proc, grace_s=5)
    rig.hold_experiments(False)


slow = pytest.mark.slow  # a moto server per module


@slow
def test_make_chaos_run_refuses_to_start_while_a_stop_alarm_is_in_alarm(rig: Rig) -> None:
    """The first rule of a game day: never inject a fault into a stack that is already hurting."""
    healthy, hurting = rig.alarm("rai-dev-ms-p99-latency"), rig.alarm("rai-dev-ms-target-5xx")
    template_id = rig.template("model-serving", "refused", [healthy, hurting])
    rig.set_alarm("rai-dev-ms-target-5xx", "ALARM")
    tool = rig.tool("RUN=model-serving/refused", make=True)
    tool.expect(r"model-serving/refused: not started: stop alarm rai-dev-ms-target-5xx is in ALARM$")
    assert tool.finish() != 0
    assert rig.experiments(template_id) == [], "nothing was started"
    assert not any("rai-dev-ms-p99-latency is" in line for line in tool.seen), "only the alarm in ALARM is named"


@slow
def test_a_stop_alarm_that_does_not_exist_refuses_the_run(rig: Rig) -> None:
    template_id = rig.template("model-serving", "gone-alarm", ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:gone"])
    tool = rig.tool("--run", "model-serving/gone-alarm")
    tool.expect(r"not started: stop alarm gone does not exist")
    assert tool.finish() == ExitCode.REFUSED
    assert rig.experiments(template_id) == []


@slow
def test_make_chaos_run_follows_an_experiment_to_completion_and_exits_0(rig: Rig) -> None:
    """moto moves an experiment one state per read: the display shows each, then the result."""
    template_id = rig.template("target-groups", "terminate-instance", [rig.alarm("rai-dev-tg-unhealthy")])
    tool = rig.tool("RUN=target-groups/terminate-instance", make=True)
    started = tool.expect(r"target-groups/terminate-instance: experiment (\w+) started from template " + template_id)
    tool.expect(r"experiment running .* actions: stop-tasks running \| stop alarms: rai-dev-tg-unhealthy OK")
    tool.expect(r"experiment \w+ completed: .* -> exit 0 \(COMPLETED\)")
    assert tool.finish() == 0
    (experiment,) = rig.experiments(template_id)
    assert experiment["id"] in started
    assert experiment["state"]["status"] == "completed"
    assert experiment["tags"]["experiment"] == "terminate-instance", "the run is tagged with what it ran"


@slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_the_experiment_and_exits_with_the_user_code(rig: Rig, signum: signal.Signals) -> None:
    """SIGINT (and SIGTERM: a cancelled CI job) is a stop request: StopExperiment, then wait
    for FIS to report the final state."""
    key = f"ctrl-c-{signum.name.lower()}"
    template_id, tool = rig.held_run(f"model-serving/{key}")
    tool.expect(rf"experiment pending .* \| stop alarms: rai-dev-{key} OK")
    tool.proc.send_signal(signum)
    tool.expect(r"stopping experiment \w+ \(Ctrl-C\): StopExperiment sent")
    tool.expect(r"experiment stopping")
    assert [e["state"]["status"] for e in rig.experiments(template_id)] == ["stopping"]
    assert tool.proc.poll() is None, "the tool waits while FIS stops"
    assert rig.release(tool, template_id, ExitCode.STOPPED_BY_USER) == ExitCode.STOPPED_BY_USER


@slow
def test_ctrl_c_on_make_chaos_reaches_the_run_and_stops_the_experiment(rig: Rig) -> None:
    """A terminal sends Ctrl-C to make and the tool alike; make waits for the tool to stop it."""
    template_id, tool = rig.held_run("model-serving/make-ctrl-c", make=True)
    tool.expect(r"experiment pending ")
    os.killpg(tool.proc.pid, signal.SIGINT)
    code = rig.release(tool, template_id, ExitCode.STOPPED_BY_USER)
    assert code == -signal.SIGINT, "make waits for the tool, then ends by the same signal (130 in a shell)"


@slow
def test_a_stop_alarm_firing_during_the_run_is_reported_and_the_experiment_stopped(rig: Rig) -> None:
    """On AWS, FIS stops the experiment on its stop alarm; moto's FIS never does, so the tool
    sends the stop itself after two polls in ALARM, and the run ends with the alarm code."""
    template_id, tool = rig.held_run("model-serving/alarm-fires")
    tool.expect(r"experiment pending .* rai-dev-alarm-fires OK")
    rig.set_alarm("rai-dev-alarm-fires", "ALARM")
    tool.expect(r"^stop alarm rai-dev-alarm-fires is in ALARM$")
    tool.expect(r"stopping experiment \w+ \(a stop alarm is in ALARM and FIS has not stopped the experiment\)")
    assert rig.release(tool, template_id, ExitCode.STOPPED_BY_ALARM) == ExitCode.STOPPED_BY_ALARM


@slow
def test_the_timeout_stops_an_experiment_that_never_ends(rig: Rig) -> None:
    template_id, tool = rig.held_run("model-serving/endless", "--timeout", "1")
    tool.expect(r"stopping experiment \w+ \(--timeout reached\): StopExperiment sent")
    assert rig.release(tool, template_id, ExitCode.TIMED_OUT) == ExitCode.TIMED_OUT


@slow
def test_no_template_or_two_templates_is_an_error_naming_what_was_looked_for_and_what_exists(rig: Rig) -> None:
    arn = rig.alarm("rai-dev-sa-iterator-age")
    rig.template("stream-analytics", "spot-interruptions", [arn], environment="prod")
    tool = rig.tool("--run", "stream-analytics/spot-interruptions")
    line = tool.expect(r"no experiment template tagged")
    assert "stack=stream-analytics, experiment=spot-interruptions, project=resilient-ai, environment=dev" in line
    assert "stream-analytics/spot-interruptions (environment=prod)" in line, "the one of another environment is named"
    assert tool.finish() == ExitCode.USAGE

    first, second = (rig.template("stream-analytics", "terminate-worker", [arn]) for _ in range(2))
    tool = rig.tool("--run", "stream-analytics/terminate-worker")
    line = tool.expect(r"2 experiment templates are tagged stack=stream-analytics, experiment=terminate-worker")
    assert first in line and second in line
    assert tool.finish() == ExitCode.USAGE
    assert rig.experiments(first) == rig.experiments(second) == []
