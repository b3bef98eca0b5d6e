"""How a stack recovers from a lost target: the AZs it spans, how long a failed target takes to be
detected and replaced, and what has no second instance."""

from __future__ import annotations

import json

from modules.policy.document import StackDocument, references
from modules.policy.rules import MultiAz, spanned_zones
from tools.docs.measures.row import Row, path_cell
from tools.docs.stack_facts import as_int, target_detection


def azs(doc: StackDocument) -> Row:
    spans = [(res, len(spanned_zones(doc, res)[0])) for res in doc.of_type(*MultiAz.types)]
    if not spans:
        return Row(
            "AZs spanned", "n/a", "no load balancer, Auto Scaling group, ECS service or fleet (regional services only)"
        )
    least = min(n for _, n in spans)
    return Row("AZs spanned", str(least), ", ".join(f"{path_cell(doc, r)}: {n}" for r, n in spans))


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
                        as_int(hc.get("interval"), 30),
                        as_int(hc.get("retries"), 3),
                        as_int(hc.get("startPeriod"), 0),
                    )
                )
    return out


def detection(doc: StackDocument) -> Row:
    parts: list[str] = []
    times: list[int] = []
    for tg in doc.of_type("aws_lb_target_group"):
        interval, unhealthy, _ = target_detection(doc, tg)
        times.append(interval * unhealthy)
        parts.append(f"{path_cell(doc, tg)}: {interval} s x {unhealthy} = {interval * unhealthy} s")
    for name, interval, retries, _ in container_health_checks(doc):
        parts.append(f"container `{name}`: {interval} s x {retries} = {interval * retries} s")
        times.append(interval * retries)
    for hc in doc.of_type("aws_route53_health_check"):
        interval, failures = as_int(hc.body.get("request_interval"), 30), as_int(hc.body.get("failure_threshold"), 3)
        parts.append(f"{path_cell(doc, hc)}: {interval} s x {failures} = {interval * failures} s")
        times.append(interval * failures)
    for fleet in doc.of_type("aws_spot_fleet_request"):
        if fleet.body.get("replace_unhealthy_instances") in (True, "true"):
            parts.append(f"{path_cell(doc, fleet)}: EC2 status checks (AWS-timed, not in the JSON)")
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
        parts.append(f"{path_cell(doc, service)}: >= {total} s + task launch and image pull ({how})")
    for asg in doc.of_type("aws_autoscaling_group"):
        warmup = as_int(asg.body.get("default_instance_warmup", asg.body.get("health_check_grace_period")), 300)
        check = asg.body.get("health_check_type", "EC2")
        parts.append(f"{path_cell(doc, asg)}: {check} health check + warm-up {warmup} s + instance boot")
    for fleet in doc.of_type("aws_spot_fleet_request"):
        maintain = fleet.body.get("fleet_type", "maintain") == "maintain"
        rebalance = bool(fleet.get("spot_maintenance_strategies.capacity_rebalance"))
        parts.append(
            f"{path_cell(doc, fleet)}: "
            + ("replaces lost instances (maintain)" if maintain else "does not replace (request)")
            + ("; launches a replacement on a rebalance signal, before the interruption" if rebalance else "")
            + " + instance boot"
        )
    if not parts:
        return Row("time to replace capacity", "n/a", "serverless or no compute in this stack")
    return Row("time to replace capacity", "see detail", "; ".join(parts))


def single_points_of_failure(doc: StackDocument) -> Row:
    found = []
    for res in doc.of_type(*MultiAz.types):
        n = len(spanned_zones(doc, res)[0])
        if n < 2:
            found.append(f"{path_cell(doc, res)} in {n} AZ")
    for service in doc.of_type("aws_ecs_service"):
        if as_int(service.body.get("desired_count"), 1) < 2:
            found.append(f"{path_cell(doc, service)} runs {service.body.get('desired_count', 1)} task")
    for asg in doc.of_type("aws_autoscaling_group"):
        if as_int(asg.body.get("min_size"), 0) < 2:
            found.append(f"{path_cell(doc, asg)} min_size {asg.body.get('min_size')}")
    for fleet in doc.of_type("aws_spot_fleet_request"):
        if as_int(fleet.body.get("target_capacity"), 0) < 2:
            found.append(f"{path_cell(doc, fleet)} target capacity {fleet.body.get('target_capacity')}")
    nats = doc.of_type("aws_nat_gateway")
    private_azs = {
        str(s.body.get("availability_zone", s.body.get("availability_zone_id")))
        for s in doc.of_type("aws_subnet")
        if not s.body.get("map_public_ip_on_launch") and doc.referencing(s, "aws_route_table_association")
    }
    if nats and len(nats) < len(private_azs):
        found.append(f"{len(nats)} NAT gateway(s) for private subnets in {len(private_azs)} AZs")
    return Row("single points of failure", str(len(found)) if found else "none found", "; ".join(found) or "-")
