"""Rules on chaos experiments (FIS templates): every one is stopped by the stack's own alarms,
and hits only resources it names, in a counted share, failing when it finds none."""

from __future__ import annotations

import re

from modules.policy.document import Resource, StackDocument
from modules.policy.rule import Rule, blocks

_ALARM_ARN = re.compile(r"^\$\{aws_cloudwatch_metric_alarm\.[A-Za-z_][A-Za-z0-9_-]*\.arn\}$")
_SELECTION = re.compile(r"^(ALL|COUNT\([1-9]\d*\)|PERCENT\(([1-9]\d?|100)\))$")
_SCOPES = ("resource_arns", "resource_tag", "parameters")


class ExperimentStopConditions(Rule):
    """A chaos experiment stops when the stack's users are hurt: it has stop conditions, each
    a reference to a CloudWatch alarm of the same stack (not a literal ARN, not ``none``)."""

    id = "experiment-stop-condition"
    summary = "a FIS experiment template is stopped by CloudWatch alarms of its own stack (at least one)"
    types = ("aws_fis_experiment_template",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        conditions = blocks(res.body.get("stop_condition"))
        if not conditions:
            return ["no stop condition: nothing stops the experiment when users are hurt"]
        problems = []
        for condition in conditions:
            source, value = condition.get("source"), condition.get("value")
            own = _ALARM_ARN.match(str(value)) and doc.referenced(value, "aws_cloudwatch_metric_alarm")
            if source != "aws:cloudwatch:alarm" or not own:
                problems.append(
                    f"stop condition {source}={value!r}: must be the arn of a CloudWatch alarm of this stack"
                )
        return problems


class ExperimentTargetsScoped(Rule):
    """A chaos experiment hits only what it names: every target is scoped by ARNs, tags or
    parameters, with an explicit selection mode, and an experiment whose targets resolve to
    nothing fails (``empty_target_resolution_mode = fail``) instead of passing silently."""

    id = "experiment-targets-scoped"
    summary = "FIS targets are scoped (ARNs, tags or parameters) with a selection mode; empty targets fail"
    types = ("aws_fis_experiment_template",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        problems = []
        targets = blocks(res.body.get("target"))
        if not targets:
            problems.append("no target: the experiment names nothing it acts on")
        for target in targets:
            name = target.get("name", "?")
            if not any(target.get(scope) for scope in _SCOPES):
                problems.append(f"target {name}: unscoped (no resource_arns, resource_tag or parameters)")
            if not _SELECTION.match(str(target.get("selection_mode", ""))):
                problems.append(
                    f"target {name}: selection_mode {target.get('selection_mode')!r}: must be ALL, COUNT(n), PERCENT(n)"
                )
        mode = res.get("experiment_options.empty_target_resolution_mode")
        if mode != "fail":
            problems.append(f"experiment_options.empty_target_resolution_mode is {mode!r}, must be 'fail'")
        return problems
