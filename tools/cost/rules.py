"""Counting rules: what each priced resource of a synthesized stack runs, per hour or month.

Each rule reads one resource of the Terraform JSON (and what it references: a service's task
definition, a group's launch template) and returns its :class:`Charge` s: a quantity of a
fixed price of ``prices.toml``. Compute is counted at rest: an ECS service's
``desired_count``, an Auto Scaling group's ``desired_capacity`` (else ``min_size``), a
fleet's ``target_capacity``. Spot capacity is counted at its ceiling, the on-demand price
(a spot request without a max price never pays more), and flagged, so the report can show
how much of a total is spot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modules.policy.document import Resource, StackDocument
from modules.policy.rule import blocks
from tools.cost.prices import PriceTable


@dataclass(frozen=True)
class Charge:
    kind: str  # the row of the per-kind table, e.g. "NAT gateway"
    price: str  # a key of [fixed], or "ec2:<instance type>"
    quantity: float
    spot: bool = False


Rule = Callable[[StackDocument, Resource, PriceTable], list[Charge]]

SPOT_EC2 = "EC2 spot (on-demand ceiling)"
SPOT_FARGATE = "Fargate Spot (on-demand ceiling)"
# AWS managed rule groups with a subscription on top of the rule charge.
PAID_WAF_GROUPS = frozenset(
    {"AWSManagedRulesBotControlRuleSet", "AWSManagedRulesATPRuleSet", "AWSManagedRulesACFPRuleSet"}
)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _where(doc: StackDocument, res: Resource) -> str:
    return f"{doc.name}: {res.path} ({res.address})"


def one(kind: str, price: str) -> Rule:
    """One unit of ``price`` per resource (a NAT gateway, a key, a dashboard)."""
    return lambda doc, res, prices: [Charge(kind, price, 1)]


# --- networking -----------------------------------------------------------------------------


def load_balancer(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    lb_type = res.body.get("load_balancer_type", "application")
    keys = {"application": "alb", "network": "nlb"}
    if lb_type not in keys:
        raise ValueError(f"{_where(doc, res)}: no rule for a {lb_type!r} load balancer in tools/cost/rules.py")
    charges = [Charge("load balancer", keys[lb_type], 1)]
    if res.body.get("internal") not in (True, "true"):
        # An internet-facing load balancer holds a public IPv4 address in each of its subnets
        # (at least; it may add nodes under load). An Elastic IP mapped in is an aws_eip of its own.
        mappings = blocks(res.body.get("subnet_mapping"))
        subnets = res.body.get("subnets") or []
        if not mappings and not isinstance(subnets, list):
            raise ValueError(
                f"{_where(doc, res)}: cannot count the subnets of an internet-facing load balancer "
                f"from one expression ({subnets!r}): list them, or extend tools/cost/rules.py"
            )
        count = len([m for m in mappings if not m.get("allocation_id")]) if mappings else len(subnets)
        charges.append(Charge("public IPv4 address", "public_ipv4", count))
    return charges


def vpc_endpoint(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    kind = res.body.get("vpc_endpoint_type", "Gateway")
    if kind == "Gateway":
        return []  # S3 and DynamoDB gateway endpoints are free
    subnets = res.body.get("subnet_ids")
    if kind != "Interface" or not isinstance(subnets, list):
        raise ValueError(f"{_where(doc, res)}: cannot count the AZs of a {kind} endpoint (subnet_ids: {subnets!r})")
    return [Charge("interface endpoint (per AZ)", "interface_endpoint_az", len(subnets))]


# --- compute --------------------------------------------------------------------------------


def capacity_shares(tasks: int, strategy: list[dict[str, Any]]) -> dict[str, float]:
    """Tasks per capacity provider: each provider's ``base`` first, in order, then the rest
    split by ``weight`` (as a fraction: over time ECS keeps that ratio)."""
    shares: dict[str, float] = {}
    left = tasks
    for item in strategy:
        took = min(left, _int(item.get("base"), 0))
        shares[str(item["capacity_provider"])] = float(took)
        left -= took
    total = sum(_int(item.get("weight"), 0) for item in strategy)
    for item in strategy:
        if total:
            shares[str(item["capacity_provider"])] += left * _int(item.get("weight"), 0) / total
    return shares


def ecs_service(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    tasks = _int(res.body.get("desired_count"), 0)
    strategy = blocks(res.body.get("capacity_provider_strategy"))
    if res.body.get("launch_type") == "FARGATE":
        strategy = [{"capacity_provider": "FARGATE", "weight": 1}]
    elif not strategy and not res.body.get("launch_type"):
        for cluster in doc.referenced(res.body.get("cluster"), "aws_ecs_cluster"):
            for default in doc.referencing(cluster, "aws_ecs_cluster_capacity_providers", key="cluster_name"):
                strategy = blocks(default.body.get("default_capacity_provider_strategy"))
    shares = capacity_shares(tasks, strategy)
    if not any(shares.get(p) for p in ("FARGATE", "FARGATE_SPOT")):
        return []  # EC2 launch type or an ASG capacity provider: the instances are priced on their group
    found = doc.referenced(res.body.get("task_definition"), "aws_ecs_task_definition")
    if len(found) != 1 or "cpu" not in found[0].body or "memory" not in found[0].body:
        raise ValueError(f"{_where(doc, res)}: a Fargate service needs a task definition with cpu and memory")
    task = found[0]
    vcpu, gb = _int(task.body["cpu"], 0) / 1024, _int(task.body["memory"], 0) / 1024
    arch = "arm" if str(task.get("runtime_platform.cpu_architecture", "X86_64")).upper() == "ARM64" else "x86"
    extra_gb = max(_int(task.get("ephemeral_storage.size_in_gib"), 20) - 20, 0)
    charges = []
    for provider, kind, spot in (("FARGATE", "Fargate", False), ("FARGATE_SPOT", SPOT_FARGATE, True)):
        n = shares.get(provider, 0.0)
        if n:
            charges += [
                Charge(kind, f"fargate_vcpu_{arch}", n * vcpu, spot),
                Charge(kind, f"fargate_gb_{arch}", n * gb, spot),
            ]
            if extra_gb:
                charges.append(Charge(kind, "fargate_ephemeral_gb", n * extra_gb, spot))
    return charges


def instances(
    doc: StackDocument,
    res: Resource,
    prices: PriceTable,
    *,
    on_demand: float,
    spot: float,
    types: list[str],
    cheapest_on_demand: bool,
) -> list[Charge]:
    """Instances of a group or fleet: on-demand at the first type (or the cheapest, when the
    on-demand strategy says so), spot at the dearest type's on-demand price, the ceiling; each
    with its launch template's EBS volumes and detailed monitoring."""
    refs = [
        res.body.get("launch_template"),
        res.get("mixed_instances_policy.launch_template"),
        res.body.get("launch_template_config"),
    ]
    templates = {t.address: t for t in doc.referenced(refs, "aws_launch_template")}
    if len(templates) != 1:
        raise ValueError(f"{_where(doc, res)}: expected one launch template, found {sorted(templates) or 'none'}")
    (template,) = templates.values()
    types = types or [str(template.body.get("instance_type", ""))]
    where = _where(doc, res)
    hourly = {t: prices.instance_hourly(t, where) for t in types}
    od_type = min(types, key=lambda t: hourly[t]) if cheapest_on_demand else types[0]
    spot_type = max(types, key=lambda t: hourly[t])
    charges = [Charge("EC2 on-demand", f"ec2:{od_type}", on_demand)] if on_demand else []
    if spot:
        charges.append(Charge(SPOT_EC2, f"ec2:{spot_type}", spot, spot=True))
    count = on_demand + spot
    for mapping in blocks(template.body.get("block_device_mappings")):
        for ebs in blocks(mapping.get("ebs")):
            size, volume = ebs.get("volume_size"), str(ebs.get("volume_type", "gp3"))
            if size is None or f"ebs_{volume}_gb" not in prices.fixed:
                device = mapping.get("device_name")
                raise ValueError(f"{where}: EBS volume {device}: size {size}, type {volume}: no size or no price")
            charges.append(Charge("EBS volumes", f"ebs_{volume}_gb", count * _int(size, 0)))
    if template.get("monitoring.enabled") in (True, "true"):
        charges.append(Charge("EC2 detailed monitoring", "ec2_detailed_monitoring", count))
    return charges


def _override_types(where: str, overrides: Any) -> list[str]:
    found = blocks(overrides)
    if any("weighted_capacity" in o for o in found):
        raise ValueError(f"{where}: weighted capacity is not counted by tools/cost/rules.py")
    return list(dict.fromkeys(str(o["instance_type"]) for o in found if "instance_type" in o))


def autoscaling_group(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    count = _int(res.body.get("desired_capacity"), _int(res.body.get("min_size"), 0))
    dist = res.get("mixed_instances_policy.instances_distribution") or {}
    base = _int(dist.get("on_demand_base_capacity"), 0) if dist else count
    share = _int(dist.get("on_demand_percentage_above_base_capacity"), 100) / 100 if dist else 1.0
    on_demand = min(count, base) + max(count - base, 0) * share
    types = _override_types(_where(doc, res), res.get("mixed_instances_policy.launch_template.override"))
    cheapest = dist.get("on_demand_allocation_strategy") == "lowest-price"
    return instances(
        doc, res, prices, on_demand=on_demand, spot=count - on_demand, types=types, cheapest_on_demand=cheapest
    )


def spot_fleet(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    count = _int(res.body.get("target_capacity"), 0)
    on_demand = min(_int(res.body.get("on_demand_target_capacity"), 0), count)
    overrides = [o for c in blocks(res.body.get("launch_template_config")) for o in blocks(c.get("overrides"))]
    types = _override_types(_where(doc, res), overrides)
    cheapest = res.body.get("on_demand_allocation_strategy", "lowestPrice") == "lowestPrice"
    return instances(
        doc, res, prices, on_demand=on_demand, spot=count - on_demand, types=types, cheapest_on_demand=cheapest
    )


# --- data, observability, edge --------------------------------------------------------------


def alarm(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    """AWS bills an alarm per metric it evaluates: each metric of a metric-math alarm (the
    expressions are free), three for an anomaly band; at the high-resolution price when any
    period is under 60 s."""
    queries = blocks(res.body.get("metric_query"))
    if queries:
        metrics = [q["metric"] for q in queries if q.get("metric")]
        periods = [_int(m.get("period"), 60) for m in metrics]
        anomaly = any("ANOMALY_DETECTION_BAND" in str(q.get("expression", "")) for q in queries)
        count = len(metrics) * (3 if anomaly else 1)
    else:
        count, periods = 1, [_int(res.body.get("period"), 60)]
    high = min(periods, default=60) < 60
    return [
        Charge("CloudWatch alarm metric", "alarm_metric_high_resolution" if high else "alarm_metric_standard", count)
    ]


def web_acl(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    rules = blocks(res.body.get("rule"))
    paid = [
        r
        for r in rules
        if r.get("statement", {}).get("managed_rule_group_statement", {}).get("name") in PAID_WAF_GROUPS
    ]
    charges = [Charge("WAF web ACL", "waf_web_acl", 1), Charge("WAF rule", "waf_rule", len(rules))]
    return charges + ([Charge("WAF paid managed rule group", "waf_paid_managed_group", len(paid))] if paid else [])


def kinesis_stream(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    if res.get("stream_mode_details.stream_mode", "PROVISIONED") == "ON_DEMAND":
        return [Charge("Kinesis stream", "kinesis_on_demand_stream", 1)]  # shard metrics: usage (AWS sets shards)
    shards = _int(res.body.get("shard_count"), 0)
    charges = [Charge("Kinesis stream", "kinesis_shard", shards)]
    if _int(res.body.get("retention_period"), 24) > 24:
        charges.append(Charge("Kinesis stream", "kinesis_extended_retention_shard", shards))
    metrics = len(res.body.get("shard_level_metrics") or [])
    return charges + ([Charge("Kinesis shard-level metrics", "custom_metric", shards * metrics)] if metrics else [])


def dynamodb_table(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    if res.body.get("billing_mode", "PROVISIONED") != "PROVISIONED":
        return []
    indexes = [res.body, *blocks(res.body.get("global_secondary_index"))]
    return [
        Charge("DynamoDB provisioned capacity", "dynamodb_rcu", sum(_int(i.get("read_capacity"), 0) for i in indexes)),
        Charge("DynamoDB provisioned capacity", "dynamodb_wcu", sum(_int(i.get("write_capacity"), 0) for i in indexes)),
    ]


def secret(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    return [Charge("Secrets Manager secret", "secret", 1 + len(blocks(res.body.get("replica"))))]


def ssm_parameter(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    advanced = res.body.get("tier") == "Advanced"
    return [Charge("SSM advanced parameter", "ssm_advanced_parameter", 1)] if advanced else []


def health_check(doc: StackDocument, res: Resource, prices: PriceTable) -> list[Charge]:
    """An alarm-based or calculated check is an AWS one; an endpoint check is when its address
    refers to a resource (an ALB's DNS name), else it is priced as a non-AWS endpoint."""
    kind = str(res.body.get("type", ""))
    if kind in ("CLOUDWATCH_METRIC", "CALCULATED", "RECOVERY_CONTROL"):
        return [Charge("Route 53 health check", "route53_health_check_aws", 1)]
    aws = bool(doc.referenced([res.body.get("fqdn"), res.body.get("ip_address")]))
    options = sum(
        (
            kind.startswith("HTTPS"),
            kind.endswith("STR_MATCH"),
            _int(res.body.get("request_interval"), 30) == 10,
            res.body.get("measure_latency") in (True, "true"),
        )
    )
    suffix = "aws" if aws else "other"
    charges = [Charge("Route 53 health check", f"route53_health_check_{suffix}", 1)]
    return charges + (
        [Charge("Route 53 health check", f"route53_health_check_feature_{suffix}", options)] if options else []
    )
