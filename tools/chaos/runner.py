"""Run one experiment template on the account of the settings, and follow it to its end.

The template is found by its tags (``stack``, ``experiment``, and the settings' ``project``
and ``environment``: two environments in one account never run each other's). Before the
start every stop alarm must exist and be out of ALARM. While it runs, the experiment, its
actions and its stop alarms are polled; the run ends in a final FIS state, and the exit
code says which (:class:`ExitCode`, docs/chaos.md).

A stop alarm in ALARM stops the experiment on AWS by itself (FIS watches its stop
conditions). If FIS still reports the experiment running :data:`ALARM_GRACE_POLLS` polls
after the runner saw the alarm, the runner stops it: the guarantee holds even when FIS is
slow to react, and on the emulator, whose FIS never watches alarms.
"""

from __future__ import annotations

import getpass
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from types import FrameType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tools.chaos.progress import Display, Snapshot

FINAL = ("completed", "stopped", "failed", "cancelled")
ALARM_GRACE_POLLS = 2
_NAME = re.compile(r"^[a-z0-9-]+/[a-z0-9-]+$")
# The FIS tag value charset; anything else in a user name is replaced.
_TAG_UNSAFE = re.compile(r"[^\w .:/=+@-]")


class ExitCode(IntEnum):
    """How ``python -m tools.chaos --run`` ends (docs/chaos.md, "Exit codes")."""

    COMPLETED = 0
    FAILED = 1
    USAGE = 2  # not started: bad name or settings, no template or several, AWS refused a call
    REFUSED = 3  # not started: a stop alarm in ALARM or missing, or no stop alarm at all
    STOPPED_BY_ALARM = 4
    STOPPED_ELSEWHERE = 5  # stopped by someone else (console, API), no stop alarm seen firing
    TIMED_OUT = 124  # stopped at --timeout, or not final --stop-wait after the stop
    STOPPED_BY_USER = 130  # Ctrl-C or SIGTERM (130 = 128 + SIGINT, as a shell reports Ctrl-C)


class RunError(Exception):
    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, kw_only=True)
class Options:
    poll_s: float = 5.0
    timeout_s: float = 3600.0
    stop_wait_s: float = 300.0


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    alarms: tuple[str, ...]


class Cause(Enum):
    """Why the runner itself sent StopExperiment."""

    USER = "Ctrl-C"  # or SIGTERM
    ALARM = "a stop alarm is in ALARM and FIS has not stopped the experiment"
    TIMEOUT = "--timeout reached"


@dataclass
class Run:
    """What the runner knows while following one experiment."""

    experiment_id: str
    stop_cause: Cause | None = None
    stop_sent_at: float = 0.0
    firing_polls: int = 0
    alarms_seen: set[str] = field(default_factory=set)


def parse_name(name: str) -> tuple[str, str]:
    if not _NAME.match(name):
        raise RunError(
            f"{name!r}: expected <stack>/<experiment>, e.g. model-serving/stop-tasks (`make chaos` lists them)"
        )
    stack, key = name.split("/")
    return stack, key


def find_template(fis: Any, name: str, scope: Mapping[str, str]) -> str:
    """The id of the one template tagged for ``name`` in ``scope`` (project, environment)."""
    stack, key = parse_name(name)
    wanted = {"stack": stack, "experiment": key, **scope}
    pages = fis.get_paginator("list_experiment_templates").paginate()
    summaries = [t for page in pages for t in page.get("experimentTemplates", [])]
    matches = [t for t in summaries if all(t.get("tags", {}).get(k) == v for k, v in wanted.items())]
    if len(matches) == 1:
        return str(matches[0]["id"])
    looked_for = ", ".join(f"{k}={v}" for k, v in wanted.items())
    if matches:
        ids = ", ".join(sorted(str(t["id"]) for t in matches))
        raise RunError(f"{len(matches)} experiment templates are tagged {looked_for}: {ids}; delete the extra ones")
    existing = sorted(_label(t.get("tags", {}), scope) for t in summaries) or ["none"]
    raise RunError(
        f"no experiment template tagged {looked_for}; templates in this account and region: {', '.join(existing)}"
    )


def _label(tags: Mapping[str, str], scope: Mapping[str, str]) -> str:
    name = f"{tags.get('stack', '?')}/{tags.get('experiment', '?')}"
    other = [f"{k}={tags.get(k) or '-'}" for k in scope if tags.get(k) != scope[k]]
    return name + (f" ({', '.join(other)})" if other else "")


def load_template(fis: Any, template_id: str, name: str) -> Template:
    body = fis.get_experiment_template(id=template_id)["experimentTemplate"]
    conditions = body.get("stopConditions", [])
    alarms = tuple(alarm_name(c["value"]) for c in conditions if c.get("source") == "aws:cloudwatch:alarm")
    return Template(id=template_id, name=name, alarms=alarms)


def alarm_name(arn: str) -> str:
    """``arn:aws:cloudwatch:<region>:<account>:alarm:<name>`` -> ``<name>`` (names may hold ``:``)."""
    parts = arn.split(":", 6)
    return parts[6] if len(parts) == 7 and parts[5] == "alarm" else arn


def alarm_states(cloudwatch: Any, names: Sequence[str]) -> dict[str, str]:
    """Each alarm's state; ``MISSING`` for one that does not exist."""
    found: dict[str, str] = {}
    for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
        page = cloudwatch.describe_alarms(
            AlarmNames=list(names[start : start + 100]), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            found[alarm["AlarmName"]] = alarm["StateValue"]
    return {name: found.get(name, "MISSING") for name in names}


def preflight(template: Template, states: Mapping[str, str]) -> list[str]:
    """Why the experiment must not start (empty: it may)."""
    if not template.alarms:
        return [f"{template.name}: the template has no CloudWatch alarm stop condition; this tool runs none without"]
    bad = {"ALARM": "is in ALARM", "MISSING": "does not exist"}
    return [f"stop alarm {name} {bad[state]}" for name, state in states.items() if state in bad]


class Interrupts:
    """Ctrl-C (or SIGTERM: a CI job cancelled) as a flag the poll loop reads: a stop request,
    never a half-made AWS call, and never a run left behind without a stop."""

    def __init__(self) -> None:
        self.count = 0
        self._event = threading.Event()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        self._event.set()

    def install(self) -> None:
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when Ctrl-C comes."""
        self._event.wait(seconds)
        self._event.clear()


def start(fis: Any, template: Template) -> str:
    stack, key = template.name.split("/")
    operator = _TAG_UNSAFE.sub("_", getpass.getuser())[:256]
    tags = {"stack": stack, "experiment": key, "started-by": "tools.chaos", "operator": operator}
    started = fis.start_experiment(clientToken=str(uuid.uuid4()), experimentTemplateId=template.id, tags=tags)
    return str(started["experiment"]["id"])


def snapshot(experiment: Mapping[str, Any], states: Mapping[str, str], elapsed_s: float) -> Snapshot:
    state = experiment.get("state", {})
    actions = experiment.get("actions", {})
    return Snapshot(
        elapsed_s=elapsed_s,
        status=str(state.get("status", "?")),
        reason=str(state.get("reason", "")),
        actions=tuple((name, str(a.get("state", {}).get("status", "?"))) for name, a in sorted(actions.items())),
        alarms=tuple(sorted(states.items())),
    )


def follow(
    fis: Any,
    cloudwatch: Any,
    template: Template,
    run: Run,
    options: Options,
    *,
    display: Display,
    interrupts: Interrupts,
    clock: Callable[[], float] = time.monotonic,
) -> ExitCode:
    """Poll until the experiment is final; stop it on Ctrl-C, on a stop alarm FIS ignores, at the timeout.

    An AWS error on a poll is shown and the next poll tries again; past ``timeout_s +
    stop_wait_s`` the runner gives up whatever AWS answers, so it never hangs.
    """
    began = clock()
    while True:
        elapsed = clock() - began
        try:
            experiment = fis.get_experiment(id=run.experiment_id)["experiment"]
            snap = snapshot(experiment, alarm_states(cloudwatch, template.alarms), elapsed)
            display.show(snap)
            if snap.status in FINAL:
                return outcome(experiment, run, display)
            cause = _stop_cause(run, dict(snap.alarms), snap.status, interrupts, elapsed >= options.timeout_s, display)
            if cause and not run.stop_cause:
                fis.stop_experiment(id=run.experiment_id)
                run.stop_cause, run.stop_sent_at = cause, clock()
                display.note(f"stopping experiment {run.experiment_id} ({cause.value}): StopExperiment sent")
        except (BotoCoreError, ClientError) as exc:
            display.note(f"AWS call failed, trying again at the next poll: {exc}")
        given_up = _given_up(run, interrupts, elapsed, options, clock)
        if given_up is not None:
            check = f"aws fis get-experiment --id {run.experiment_id}"
            display.note(f"left experiment {run.experiment_id} before a final state: check `{check}`")
            return given_up
        interrupts.wait(options.poll_s)


def _given_up(
    run: Run, interrupts: Interrupts, elapsed: float, options: Options, clock: Callable[[], float]
) -> ExitCode | None:
    """The exit code when the runner stops waiting for a final state: Ctrl-C again after a
    stop was sent, or no final state ``stop_wait_s`` after the stop (or after the timeout)."""
    if run.stop_cause and interrupts.count > (1 if run.stop_cause is Cause.USER else 0):
        return ExitCode.STOPPED_BY_USER
    if run.stop_cause and clock() - run.stop_sent_at >= options.stop_wait_s:
        return ExitCode.TIMED_OUT
    if elapsed >= options.timeout_s + options.stop_wait_s:
        return ExitCode.TIMED_OUT
    return None


def _stop_cause(
    run: Run, states: Mapping[str, str], status: str, interrupts: Interrupts, timed_out: bool, display: Display
) -> Cause | None:
    """Why the runner must stop the experiment now (None if it need not)."""
    firing = sorted(name for name, state in states.items() if state == "ALARM")
    for name in firing:
        if name not in run.alarms_seen:
            display.note(f"stop alarm {name} is in ALARM")
    run.alarms_seen.update(firing)
    run.firing_polls = run.firing_polls + 1 if firing else 0
    if interrupts.count:
        return Cause.USER
    if firing and status != "stopping" and run.firing_polls > ALARM_GRACE_POLLS:
        return Cause.ALARM
    if timed_out:
        return Cause.TIMEOUT
    return None


def outcome(experiment: Mapping[str, Any], run: Run, display: Display) -> ExitCode:
    """The exit code of a final experiment, with the sentence saying why."""
    state = experiment.get("state", {})
    status, reason = state.get("status"), state.get("reason", "")
    error = state.get("error") or {}
    code = _code(status, run, str(reason))
    detail = f"; error {error.get('code')} at {error.get('location')}" if error else ""
    display.note(f"experiment {run.experiment_id} {status}: {reason}{detail} -> exit {int(code)} ({code.name})")
    return code


def _code(status: Any, run: Run, reason: str) -> ExitCode:
    if status == "completed":
        return ExitCode.COMPLETED
    if status != "stopped":
        return ExitCode.FAILED
    if run.stop_cause is Cause.USER:
        return ExitCode.STOPPED_BY_USER
    if run.stop_cause is Cause.TIMEOUT:
        return ExitCode.TIMED_OUT
    if run.alarms_seen or "stop condition" in reason.lower():
        return ExitCode.STOPPED_BY_ALARM
    return ExitCode.STOPPED_ELSEWHERE
