"""The resilience scorecard: per stack, the numbers that say how it survives a failure.

Reads Terraform JSON only (``cdktf.out/stacks/*/cdk.tf.json``, or a plan's
``terraform show -json`` through :func:`modules.policy.document.from_plan`), never the
Python constructs, and writes markdown:

    python -m tools.docs.scorecard [--check] [--out docs/scorecard.md] [cdktf.out | plan.json]

With no source it synthesizes the embedded defaults itself (what ``make scorecard`` does).

``--check`` exits 1 when the file differs from what the JSON gives (CI runs the same
comparison as a test). Times are what the JSON states; what it cannot state (instance
boot, image pull) is named, never guessed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.architectures.fault_claims import FaultClaim, claims_of
from modules.core.paths import PROJECT_ROOT
from modules.policy.document import Resource, StackDocument, load_outdir, references
from modules.policy.rule import blocks
from modules.policy.rules import (
    MultiAz,
    async_failure_destination,
    async_invokers,
    dead_letter_targets,
    encrypted,
    mapping_source,
    spanned_zones,
)
from tools.cost.prices import load_prices
from tools.cost.report import money, stack_cost
from tools.generated_parts import write_or_check

DEFAULT_OUT = PROJECT_ROOT / "docs" / "scorecard.md"

# AWS defaults when an argument is not written (provider 5.100.0 / service docs).
TG_DEFAULTS = {"interval": 30, "unhealthy_threshold": 3, "healthy_threshold": 3}
LAMBDA_ASYNC_RETRIES = 2

# Failure signals per resource type: (signal, metric names any of which covers it).
SIGNALS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "aws_lb": (("load balancer 5xx", ("HTTPCode_ELB_5XX_Count",)),),
    "aws_lb_target_group": (
        ("unhealthy targets", ("UnHealthyHostCount", "HealthyHostCount")),
        ("target 5xx", ("HTTPCode_Target_5XX_Count",)),
    ),
    "aws_lambda_function": (("errors", ("Errors",)), ("throttles", ("Throttles",))),
    "aws_kinesis_stream": (
        ("iterator age", ("GetRecords.IteratorAgeMilliseconds",)),
        ("throttling", ("ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded")),
    ),
    "aws_ecs_service": (("running tasks", ("RunningTaskCount",)),),
    "aws_autoscaling_group": (("in-service instances", ("GroupInServiceInstances", "GroupInServiceCapacity")),),
    "aws_dynamodb_table": (
        ("throttles", ("ThrottledRequests", "ReadThrottleEvents", "WriteThrottleEvents")),
        ("system errors", ("SystemErrors",)),
    ),
}
QUEUE_SIGNAL = ("oldest message age", ("ApproximateAgeOfOldestMessage",))
DLQ_SIGNAL = ("messages in the DLQ", ("ApproximateNumberOfMessagesVisible", "NumberOfMessagesSent"))


def _short(doc: StackDocument, res: Resource) -> str:
    """The construct path without the stack name: what a reader of the code recognises."""
    prefix = f"{doc.name}/"
    return f"`{res.path.removeprefix(prefix)}`"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class Row:
    measure: str
    value: str
    detail: str


def is_dead_letter_queue(doc: StackDocument, queue: Resource) -> bool:
    return (queue.type, queue.name) in dead_letter_targets(doc) or "sqs-redrive" in queue.waivers


# --- the measures ------------------------------------------------------------------------------


def azs(doc: StackDocument) -> Row:
    spans = [(res, len(spanned_zones(doc, res)[0])) for res in doc.of_type(*MultiAz.types)]
    if not spans:
        return Row(
            "AZs spanned", "n/a", "no load balancer, Auto Scaling group, ECS service or fleet (regional services only)"
        )
    least = min(n for _, n in spans)
    return Row("AZs spanned", str(least), ", ".join(f"{_short(doc, r)}: {n}" for r, n in spans))


def target_detection(doc: StackDocument, tg: Resource) -> tuple[int, int, int]:
    """(interval s, unhealthy threshold, healthy threshold) of a target group's health check."""
    hc = tg.get("health_check", {}) or {}
    return (
        _int(hc.get("interval"), TG_DEFAULTS["interval"]),
        _int(hc.get("unhealthy_threshold"), TG_DEFAULTS["unhealthy_threshold"]),
        _int(hc.get("healthy_threshold"), TG_DEFAULTS["healthy_threshold"]),
    )


def container_health_checks(doc: StackDocument) -> list[tuple[str, int, int, int]]:
    """(container, interval s, retries, start period s) of each task definition's health checks."""
    out = []
    for task in doc.of_type("aws_ecs_task_definition"):
        try:
            containers = json.loads(task.body.get("container_definitions", "[]"))
        except ValueError:
            continue
        for c in containers:
            hc = c.get("healthCheck")
            if hc:
                out.append(
                    (
                        str(c.get("name")),
                        _int(hc.get("interval"), 30),
                        _int(hc.get("retries"), 3),
                        _int(hc.get("startPeriod"), 0),
                    )
                )
    return out


def detection(doc: StackDocument) -> Row:
    parts: list[str] = []
    times: list[int] = []
    for tg in doc.of_type("aws_lb_target_group"):
        interval, unhealthy, _ = target_detection(doc, tg)
        times.append(interval * unhealthy)
        parts.append(f"{_short(doc, tg)}: {interval} s x {unhealthy} = {interval * unhealthy} s")
    for name, interval, retries, _ in container_health_checks(doc):
        parts.append(f"container `{name}`: {interval} s x {retries} = {interval * retries} s")
        times.append(interval * retries)
    for hc in doc.of_type("aws_route53_health_check"):
        interval, failures = _int(hc.body.get("request_interval"), 30), _int(hc.body.get("failure_threshold"), 3)
        parts.append(f"{_short(doc, hc)}: {interval} s x {failures} = {interval * failures} s")
        times.append(interval * failures)
    for fleet in doc.of_type("aws_spot_fleet_request"):
        if fleet.body.get("replace_unhealthy_instances") in (True, "true"):
            parts.append(f"{_short(doc, fleet)}: EC2 status checks (AWS-timed, not in the JSON)")
    if not parts:
        return Row("time to detect a failed target", "n/a", "no health-checked targets")
    value = f"{min(times)} s" if times else "AWS-timed"
    return Row("time to detect a failed target", value, "; ".join(parts))


def replacement(doc: StackDocument) -> Row:
    parts = []
    tgs = {(tg.type, tg.name): tg for tg in doc.of_type("aws_lb_target_group")}
    for service in doc.of_type("aws_ecs_service"):
        tg_refs = [tgs[r] for r in references(service.body.get("load_balancer")) if r in tgs]
        checks = container_health_checks(doc)
        start = max((s for _, _, _, s in checks), default=0)
        if tg_refs:
            interval, unhealthy, healthy = target_detection(doc, tg_refs[0])
            total = interval * unhealthy + start + interval * healthy
            how = f"detect {interval * unhealthy} s + start period {start} s + {healthy} healthy checks x {interval} s"
        else:
            total = sum(i * r for _, i, r, _ in checks[:1]) + start
            how = f"container health check + start period {start} s"
        parts.append(f"{_short(doc, service)}: >= {total} s + task launch and image pull ({how})")
    for asg in doc.of_type("aws_autoscaling_group"):
        warmup = _int(asg.body.get("default_instance_warmup", asg.body.get("health_check_grace_period")), 300)
        check = asg.body.get("health_check_type", "EC2")
        parts.append(f"{_short(doc, asg)}: {check} health check + warm-up {warmup} s + instance boot")
    for fleet in doc.of_type("aws_spot_fleet_request"):
        maintain = fleet.body.get("fleet_type", "maintain") == "maintain"
        rebalance = bool(fleet.get("spot_maintenance_strategies.capacity_rebalance"))
        parts.append(
            f"{_short(doc, fleet)}: "
            + ("replaces lost instances (maintain)" if maintain else "does not replace (request)")
            + ("; launches a replacement on a rebalance signal, before the interruption" if rebalance else "")
            + " + instance boot"
        )
    if not parts:
        return Row("time to replace capacity", "n/a", "serverless or no compute in this stack")
    return Row("time to replace capacity", "see detail", "; ".join(parts))


def async_paths(doc: StackDocument) -> tuple[list[str], list[str]]:
    """(covered, uncovered) asynchronous paths, each described."""
    covered: list[str] = []
    uncovered: list[str] = []

    def add(ok: bool, text: str) -> None:
        (covered if ok else uncovered).append(text)

    for q in doc.of_type("aws_sqs_queue"):
        if is_dead_letter_queue(doc, q):
            continue
        redrive = q.body.get("redrive_policy")
        receives = ""
        if isinstance(redrive, str) and "maxReceiveCount" in redrive:
            try:
                receives = f" after {json.loads(redrive)['maxReceiveCount']} receives"
            except (ValueError, KeyError):
                receives = ""
        add(bool(redrive), f"queue {_short(doc, q)} -> DLQ{receives}" if redrive else f"queue {_short(doc, q)}: no DLQ")
    for m in doc.of_type("aws_lambda_event_source_mapping"):
        source = mapping_source(doc, m)
        if source == "queue":
            src = doc.referenced(m.body.get("event_source_arn"), "aws_sqs_queue")
            ok = bool(src and src[0].body.get("redrive_policy"))
            partial = m.body.get("function_response_types") == ["ReportBatchItemFailures"]
            add(
                ok,
                f"mapping {_short(doc, m)} (SQS: the queue's redrive{', partial batch failures' if partial else ''})",
            )
        else:
            dest = m.get("destination_config.on_failure.destination_arn")
            retries = m.body.get("maximum_retry_attempts", "unlimited until records expire")
            add(
                bool(dest),
                f"mapping {_short(doc, m)} (stream: {retries} retries, then "
                + ("on-failure destination)" if dest else "LOST)"),
            )
    for fn in doc.of_type("aws_lambda_function"):
        if async_invokers(doc, fn):
            dest = async_failure_destination(doc, fn)
            add(
                bool(dest),
                f"async {_short(doc, fn)} ({LAMBDA_ASYNC_RETRIES} retries, then {'destination' if dest else 'LOST'})",
            )
    for sub in doc.of_type("aws_sns_topic_subscription"):
        if sub.body.get("protocol") in ("sqs", "lambda", "http", "https", "firehose"):
            add(bool(sub.body.get("redrive_policy")), f"subscription {_short(doc, sub)}")
    for target in doc.of_type("aws_cloudwatch_event_target"):
        ok = bool(target.get("dead_letter_config.arn"))
        add(
            ok,
            f"EventBridge target {_short(doc, target)}"
            + ("" if ok else ": no DLQ (events dropped after 24 h of retries)"),
        )
    return covered, uncovered


def dlq_coverage(doc: StackDocument) -> Row:
    covered, uncovered = async_paths(doc)
    total = len(covered) + len(uncovered)
    if total == 0:
        return Row("retries and DLQ coverage", "n/a", "no asynchronous paths")
    detail = "; ".join([*covered, *(f"**{u}**" for u in uncovered)])
    return Row("retries and DLQ coverage", f"{len(covered)} of {total} asynchronous paths", detail)


def _alarm_index(doc: StackDocument) -> list[tuple[set[str], set[tuple[str, str]]]]:
    """Per alarm: the metric names it watches and the resources its metrics name."""
    out = []
    for alarm in doc.of_type("aws_cloudwatch_metric_alarm"):
        names: set[str] = set()
        _collect(alarm.body, "metric_name", names)
        out.append((names, set(references(alarm.body))))
    return out


def _collect(value: Any, key: str, into: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key and isinstance(v, str):
                into.add(v)
            else:
                _collect(v, key, into)
    elif isinstance(value, list):
        for v in value:
            _collect(v, key, into)


def alarm_coverage(doc: StackDocument) -> Row:
    alarms = _alarm_index(doc)
    have: list[str] = []
    missing: list[str] = []
    for res in doc:
        signals = SIGNALS.get(res.type, ())
        if res.type == "aws_sqs_queue":
            signals = (DLQ_SIGNAL,) if is_dead_letter_queue(doc, res) else (QUEUE_SIGNAL,)
        for signal, metrics in signals:
            hit = any(set(metrics) & names and (res.type, res.name) in refs for names, refs in alarms)
            (have if hit else missing).append(f"{_short(doc, res)} {signal}")
    if not have and not missing:
        return Row("alarm coverage", "n/a", "no monitored resource types")
    detail = "; ".join([*have, *(f"**no alarm: {m}**" for m in missing)])
    return Row("alarm coverage", f"{len(have)} of {len(have) + len(missing)} failure signals", detail)


def _encryption_of(doc: StackDocument, res: Resource) -> str | None:
    """How a data store is encrypted at rest ("" = not stated), None if not a data store."""
    if res.type == "aws_s3_bucket":
        for c in doc.companions(res, "aws_s3_bucket_server_side_encryption_configuration"):
            algo = c.get("rule.apply_server_side_encryption_by_default.sse_algorithm")
            return {"aws:kms": "KMS", "AES256": "SSE-S3"}.get(str(algo), str(algo))
        return ""
    if res.type in ("aws_kinesis_stream", "aws_sqs_queue", "aws_sns_topic", "aws_dynamodb_table"):
        if not encrypted(res):
            return ""
        return "SSE-SQS" if res.type == "aws_sqs_queue" and not res.body.get("kms_master_key_id") else "KMS"
    if res.type == "aws_cloudwatch_log_group":
        return "KMS" if res.body.get("kms_key_id") else "service default"
    if res.type == "aws_ecr_repository":
        return "KMS" if res.get("encryption_configuration.encryption_type") == "KMS" else "AES256"
    if res.type == "aws_launch_template":
        volumes = blocks(res.body.get("block_device_mappings"))
        ok = volumes and all(
            str(ebs.get("encrypted")).lower() == "true" for v in volumes for ebs in blocks(v.get("ebs")) or [{}]
        )
        return "EBS encrypted" if ok else ""
    return None


def encryption(doc: StackDocument) -> Row:
    stores = [(res, how) for res in doc if (how := _encryption_of(doc, res)) is not None]
    if not stores:
        return Row("encryption coverage", "n/a", "no data stores")
    done = [f"{_short(doc, r)} {how}" for r, how in stores if how]
    none = [f"**{_short(doc, r)} unencrypted**" for r, how in stores if not how]
    kms = sum(1 for _, how in stores if how in ("KMS", "EBS encrypted"))
    return Row(
        "encryption coverage",
        f"{len(done)} of {len(stores)} data stores ({kms} with KMS)",
        "; ".join([*done, *none]),
    )


def single_points_of_failure(doc: StackDocument) -> Row:
    found = []
    for res in doc.of_type(*MultiAz.types):
        n = len(spanned_zones(doc, res)[0])
        if n < 2:
            found.append(f"{_short(doc, res)} in {n} AZ")
    for service in doc.of_type("aws_ecs_service"):
        if _int(service.body.get("desired_count"), 1) < 2:
            found.append(f"{_short(doc, service)} runs {service.body.get('desired_count', 1)} task")
    for asg in doc.of_type("aws_autoscaling_group"):
        if _int(asg.body.get("min_size"), 0) < 2:
            found.append(f"{_short(doc, asg)} min_size {asg.body.get('min_size')}")
    for fleet in doc.of_type("aws_spot_fleet_request"):
        if _int(fleet.body.get("target_capacity"), 0) < 2:
            found.append(f"{_short(doc, fleet)} target capacity {fleet.body.get('target_capacity')}")
    nats = doc.of_type("aws_nat_gateway")
    private_azs = {
        str(s.body.get("availability_zone", s.body.get("availability_zone_id")))
        for s in doc.of_type("aws_subnet")
        if not s.body.get("map_public_ip_on_launch") and doc.referencing(s, "aws_route_table_association")
    }
    if nats and len(nats) < len(private_azs):
        found.append(f"{len(nats)} NAT gateway(s) for private subnets in {len(private_azs)} AZs")
    return Row("single points of failure", str(len(found)) if found else "none found", "; ".join(found) or "-")


def exposure(doc: StackDocument) -> Row:
    """Each load balancer: internal or public; for a public one its TLS, WAF, rate limit and auth."""
    lbs = doc.of_type("aws_lb")
    if not lbs:
        return Row("exposure", "n/a", "no load balancer")
    details = []
    for lb in lbs:
        if lb.body.get("internal") in (True, "true"):
            details.append(f"{_short(doc, lb)}: internal")
            continue
        listeners = doc.referencing(lb, "aws_lb_listener", key="load_balancer_arn")
        tls = sorted({str(x.body.get("ssl_policy")) for x in listeners if x.body.get("protocol") == "HTTPS"})
        acls = [
            acl
            for assoc in doc.referencing(lb, "aws_wafv2_web_acl_association", key="resource_arn")
            for acl in doc.referenced(assoc.body.get("web_acl_arn"), "aws_wafv2_web_acl")
        ]
        rules = {str(r.get("name")): r for acl in acls for r in (acl.body.get("rule") or [])}
        rate = rules.get("rate-per-ip", {}).get("statement", {}).get("rate_based_statement", {}).get("limit")
        auth = "bearer JWT" if "bearer-token-required" in rules else "**none**"
        limit = f"{rate}/5 min per IP" if rate else "**none**"
        details.append(
            f"{_short(doc, lb)}: **public**, TLS {', '.join(tls) or '**none**'}, "
            f"WAF {'yes' if acls else '**no**'}, rate limit {limit}, auth {auth}"
        )
    public = sum(1 for lb in lbs if lb.body.get("internal") not in (True, "true"))
    return Row("exposure", "public" if public else "internal", "; ".join(details))


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
    seconds = [_int(a.body.get("period"), 60) * _int(a.body.get("evaluation_periods"), 1) for a in found]
    return max(seconds, default=0), [_short(doc, a) for a in found]


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
            parts.append(f"**{_short(doc, svc)}: deployments watch no alarms**")
            continue
        undo, paths = _alarm_seconds(doc, alarms.get("alarm_names"))
        share = 100 - 100 * 100 // _int(svc.body.get("deployment_maximum_percent"), 200)
        worst = max(worst, undo)
        parts.append(
            f"{_short(doc, svc)}: ECS rollback on {', '.join(paths)} + circuit breaker; rollback starts <= {undo} s; "
            f"up to {share} % of requests on the new revision for {undo} s"
        )
    for asg in doc.of_type("aws_autoscaling_group"):
        prefs = asg.get("instance_refresh.preferences") or {}
        if not prefs.get("auto_rollback"):
            parts.append(f"**{_short(doc, asg)}: instance refresh does not roll back**")
            continue
        undo, paths = _alarm_seconds(doc, (prefs.get("alarm_specification") or {}).get("alarms"))
        first = (prefs.get("checkpoint_percentages") or [100])[0]
        worst = max(worst, undo)
        watch = ", ".join(paths) or "failed launches only"
        parts.append(
            f"{_short(doc, asg)}: refresh rollback on {watch}; rollback starts <= {undo} s; {first} % of instances "
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
            f"{_short(doc, group)}: CodeDeploy rollback on {watch}; alias back <= {undo} s; "
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
            f"{_short(doc, targets[0])}: canary weights {steps} % every {env.get('BAKE_S')} s, to 0 on "
            f"{', '.join(paths)}; undone <= {detect} s + {period} s controller = {undo} s; "
            f"{first} % of requests (up to {steps[-2] if len(steps) > 1 else 100} % late in a rollout) for {undo} s"
        )
    for fleet in doc.of_type("aws_spot_fleet_request"):
        parts.append(
            f"**{_short(doc, fleet)}: a Spot Fleet replaces instances with no rollout guard (fleet_kind asg has)**"
        )
    if not parts:
        return Row("deploy safety", "n/a", "nothing rolls out new code here")
    value = "**gap**" if any(p.startswith("**") for p in parts) else f"bad rollout caught <= {worst} s"
    return Row("deploy safety", value, "; ".join(parts))


MEASURES = (
    exposure,
    azs,
    detection,
    replacement,
    dlq_coverage,
    alarm_coverage,
    encryption,
    single_points_of_failure,
    deploy_safety,
)


def experiments(doc: StackDocument) -> dict[str, Resource]:
    """The stack's FIS experiment templates by their ``experiment`` tag."""
    return {
        str((res.body.get("tags") or {}).get("experiment")): res for res in doc.of_type("aws_fis_experiment_template")
    }


def claim_row(doc: StackDocument, claim: FaultClaim, found: dict[str, Resource]) -> str:
    """A claimed fault, with the experiment that runs it and the alarms that stop it, or why none."""
    if not claim.experiment:
        return f"| {claim.fault} | none | {claim.no_experiment} |"
    template = found.get(claim.experiment)
    if template is None:
        return f"| {claim.fault} | **no template in this synth** (`chaos.enabled = false`?) | - |"
    actions = ", ".join(f"`{a.get('action_id')}`" for a in blocks(template.body.get("action")))
    targets = ", ".join(
        f"{t.get('selection_mode')} of `{t.get('resource_type')}`" for t in blocks(template.body.get("target"))
    )
    stops = [
        alarm
        for c in blocks(template.body.get("stop_condition"))
        for alarm in doc.referenced(c.get("value"), "aws_cloudwatch_metric_alarm")
    ]
    stopped = ", ".join(_short(doc, alarm) for alarm in stops) or "**no stop alarm**"
    return f"| {claim.fault} | {_short(doc, template)}: {actions} on {targets} | {stopped} |"


def fault_claims(doc: StackDocument) -> list[str]:
    """The faults the stack claims to survive (``modules/architectures/fault_claims.py``), each
    with its chaos experiment (``make chaos RUN=<stack>/<key>``) or the reason there is none."""
    claims = claims_of(doc.name)
    if not claims:
        return []
    found = experiments(doc)
    return [
        "",
        "| fault it claims to survive | chaos experiment | stopped by |",
        "|---|---|---|",
        *(claim_row(doc, claim, found) for claim in claims),
    ]


def experiment_coverage(doc: StackDocument) -> str:
    """ "n of m": claimed faults with a template in this synth."""
    claims = claims_of(doc.name)
    if not claims:
        return "n/a"
    found = experiments(doc)
    return f"{sum(1 for c in claims if c.experiment in found)} of {len(claims)}"


def stack_section(doc: StackDocument) -> str:
    rows = [f"### `{doc.name}`", "", "| measure | value | detail |", "|---|---|---|"]
    for measure in MEASURES:
        row = measure(doc)
        rows.append(f"| {row.measure} | {row.value} | {row.detail} |")
    rows += fault_claims(doc)
    waived = sorted({(res.path, rule, why) for res in doc for rule, why in res.waivers.items()})
    if waived:
        rows += ["", "Policy waivers: " + "; ".join(f"`{p}` {r} ({w})" for p, r, w in waived)]
    return "\n".join(rows)


def overview(docs: list[StackDocument]) -> list[str]:
    """One row per stack: its least AZ span, its single points of failure and its fixed cost a
    month (``tools/cost``: what runs while idle, spot at its on-demand ceiling)."""
    prices = load_prices()
    rows = [
        "| stack | AZs spanned | single points of failure | faults with a chaos experiment | fixed $/month |",
        "|---|---|---|---|--:|",
    ]
    for doc in docs:
        spof, cost = single_points_of_failure(doc).value, stack_cost(doc, prices).total
        rows.append(f"| `{doc.name}` | {azs(doc).value} | {spof} | {experiment_coverage(doc)} | {money(cost)} |")
    return rows


def render(docs: Iterable[StackDocument]) -> str:
    stacks = list(docs)
    parts = [
        "# Resilience scorecard",
        "",
        "Generated by `make scorecard` from the synthesized Terraform JSON (embedded default",
        "settings, real-AWS form); do not edit: a test fails when this file is stale. Values are",
        "what the JSON states (AWS defaults where an argument is left out); what it cannot state",
        "(instance boot, image pull) is named. Bold marks a gap. Fixed $/month: what runs while",
        "idle at list prices, from [cost.md](cost.md) (`make cost`). Faults with a chaos experiment:",
        "the faults a stack claims to survive that ship as an AWS FIS template it can run",
        "([chaos.md](chaos.md), `make chaos`); each stack's table below names the experiment or why",
        "there is none.",
        "",
        *overview(stacks),
        "",
    ]
    for doc in stacks:
        parts += [stack_section(doc), ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("source", nargs="?", help="synth output dir, or a plan JSON file; default: synth the defaults")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--check", action="store_true", help="fail if --out is not up to date")
    args = parser.parse_args(argv)
    source = Path(args.source or ".")
    if args.source is None:
        from tools.default_synth import default_stacks

        docs = default_stacks()
    elif source.is_file():
        from modules.policy.document import from_plan

        docs = [from_plan(source.parent.name, json.loads(source.read_text()))]
    else:
        docs = load_outdir(str(source))
    if not docs:
        print(f"no stacks under {source}: run `make synth` first", file=sys.stderr)
        return 2
    text = render(docs)
    out = Path(args.out)
    if not write_or_check(out, text, check=args.check, fix="make scorecard"):
        return 1
    if not args.check:
        print(f"wrote {out} ({len(docs)} stacks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
