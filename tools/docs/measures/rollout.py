"""Deploy safety: per rollout mechanism, what watches it, how fast a bad rollout is undone and
what is exposed meanwhile."""

from __future__ import annotations

import re
from typing import Any

from modules.policy.document import StackDocument
from tools.docs.measures.row import Row, path_cell
from tools.docs.stack_facts import as_int


def _alarm_seconds(doc: StackDocument, names: Any) -> tuple[int, list[str]]:
    """Worst-case time (period x evaluation periods) until the slowest of the alarms ``names``
    (literal names or references to alarms) fires, and the alarms' short paths."""
    alarms = doc.of_type("aws_cloudwatch_metric_alarm")
    found = []
    for name in names if isinstance(names, list) else []:
        hits = [a for a in alarms if a.body.get("alarm_name") == name] or doc.referenced(
            name, "aws_cloudwatch_metric_alarm"
        )
        found += hits
    # Metric-query alarms carry their period in the queries: 60 s in every stack here.
    seconds = [as_int(a.body.get("period"), 60) * as_int(a.body.get("evaluation_periods"), 1) for a in found]
    return max(seconds, default=0), [path_cell(doc, a) for a in found]


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours)\)")
_LAMBDA_CONFIG = re.compile(r"Lambda(Canary|Linear)(\d+)Percent(?:Every)?(\d+)Minutes?")


def deploy_safety(doc: StackDocument) -> Row:
    """Per rollout mechanism: what watches it, how fast a bad one is undone (alarm period x
    evaluation periods, plus the controller's period), and what is exposed meanwhile."""
    parts: list[str] = []
    worst = 0
    for svc in doc.of_type("aws_ecs_service"):
        alarms = svc.body.get("alarms") or {}
        if not (alarms.get("enable") and alarms.get("rollback")):
            parts.append(f"**{path_cell(doc, svc)}: deployments watch no alarms**")
            continue
        undo, paths = _alarm_seconds(doc, alarms.get("alarm_names"))
        share = 100 - 100 * 100 // as_int(svc.body.get("deployment_maximum_percent"), 200)
        worst = max(worst, undo)
        parts.append(
            f"{path_cell(doc, svc)}: ECS rollback on {', '.join(paths)} + circuit breaker; "
            f"rollback starts <= {undo} s; up to {share} % of requests on the new revision for {undo} s"
        )
    for asg in doc.of_type("aws_autoscaling_group"):
        prefs = asg.get("instance_refresh.preferences") or {}
        if not prefs.get("auto_rollback"):
            parts.append(f"**{path_cell(doc, asg)}: instance refresh does not roll back**")
            continue
        undo, paths = _alarm_seconds(doc, (prefs.get("alarm_specification") or {}).get("alarms"))
        first = (prefs.get("checkpoint_percentages") or [100])[0]
        worst = max(worst, undo)
        watch = ", ".join(paths) or "failed launches only"
        parts.append(
            f"{path_cell(doc, asg)}: refresh rollback on {watch}; rollback starts <= {undo} s; {first} % of instances "
            f"(checkpoint, bake {prefs.get('checkpoint_delay', 0)} s) new for {undo} s"
        )
    for group in doc.of_type("aws_codedeploy_deployment_group"):
        alarms = group.body.get("alarm_configuration") or {}
        undo, paths = _alarm_seconds(doc, alarms.get("alarms"))
        match = _LAMBDA_CONFIG.search(str(group.body.get("deployment_config_name", "")))
        share = int(match.group(2)) if match else 100
        worst = max(worst, undo)
        watch = ", ".join(paths) or "**no alarm**"
        parts.append(
            f"{path_cell(doc, group)}: CodeDeploy rollback on {watch}; alias back <= {undo} s; "
            f"{share} % of invocations on the new version for {undo} s"
        )
    for schedule in doc.of_type("aws_scheduler_schedule"):
        rate = _RATE.fullmatch(str(schedule.body.get("schedule_expression", "")))
        targets = doc.referenced(schedule.get("target.arn"), "aws_lambda_function")
        env = targets[0].get("environment.variables", {}) if targets else {}
        if not rate or "STEPS" not in env:
            continue
        period = int(rate.group(1)) * (3600 if rate.group(2).startswith("hour") else 60)
        detect, paths = _alarm_seconds(doc, str(env.get("CANARY_ALARMS", "")).split(","))
        undo = detect + period
        steps = [int(x) for x in str(env["STEPS"]).split(",")]
        first = next((x for x in steps if x > 0), 100)
        worst = max(worst, undo)
        parts.append(
            f"{path_cell(doc, targets[0])}: canary weights {steps} % every {env.get('BAKE_S')} s, to 0 on "
            f"{', '.join(paths)}; undone <= {detect} s + {period} s controller = {undo} s; "
            f"{first} % of requests (up to {steps[-2] if len(steps) > 1 else 100} % late in a rollout) for {undo} s"
        )
    for fleet in doc.of_type("aws_spot_fleet_request"):
        parts.append(
            f"**{path_cell(doc, fleet)}: a Spot Fleet replaces instances with no rollout guard (fleet_kind asg has)**"
        )
    if not parts:
        return Row("deploy safety", "n/a", "nothing rolls out new code here")
    value = "**gap**" if any(p.startswith("**") for p in parts) else f"bad rollout caught <= {worst} s"
    return Row("deploy safety", value, "; ".join(parts))
