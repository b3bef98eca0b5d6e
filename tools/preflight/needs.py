"""What a synth needs of the account at its maximum sizes, read from its Terraform JSON: the
Lambda concurrency it reserves, the Fargate vCPU of its services at their maximum task count,
and the instances of its groups and fleets at their maximum size, per region."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from modules.policy.document import StackDocument
from modules.policy.rule import blocks

_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/.+$")


@dataclass(frozen=True)
class Fleet:
    """Instances a group or fleet may run at most: ``on_demand`` and ``spot`` counts, of any of ``types``."""

    name: str
    region: str
    types: tuple[str, ...]
    on_demand: int
    spot: int


@dataclass
class Needs:
    """Per region: reserved Lambda concurrency, Fargate on-demand vCPU; the fleets; certificates."""

    lambda_reserved: dict[str, int] = field(default_factory=dict)
    fargate_vcpu: dict[str, float] = field(default_factory=dict)
    fleets: list[Fleet] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)

    @property
    def regions(self) -> list[str]:
        found = {*self.lambda_reserved, *self.fargate_vcpu, *(f.region for f in self.fleets)}
        return sorted(found)


def _regions(doc: StackDocument, default_region: str) -> dict[str, str]:
    """Provider reference (``aws`` or ``aws.<alias>``) -> region, from the stack's provider blocks."""
    out = {"aws": default_region}
    for provider in blocks(doc.doc.get("provider", {}).get("aws")):
        key = f"aws.{provider['alias']}" if provider.get("alias") else "aws"
        out[key] = str(provider.get("region") or default_region)
    return out


def _region_of(body: dict[str, Any], regions: dict[str, str]) -> str:
    return regions.get(str(body.get("provider", "aws")), regions["aws"])


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _asg(name: str, body: dict[str, Any], region: str) -> Fleet:
    max_size = _int(body.get("max_size"))
    policy = (blocks(body.get("mixed_instances_policy")) or [{}])[0]
    spread = (blocks(policy.get("instances_distribution")) or [{}])[0]
    base = min(max_size, _int(spread.get("on_demand_base_capacity")))
    percent = _int(spread.get("on_demand_percentage_above_base_capacity"), 100)
    on_demand = base + math.ceil((max_size - base) * percent / 100)
    templates = blocks(policy.get("launch_template"))
    types = tuple(o["instance_type"] for t in templates for o in blocks(t.get("override")) if o.get("instance_type"))
    return Fleet(name, region, types, on_demand, max_size - on_demand)


def _spot_fleet(name: str, body: dict[str, Any], region: str) -> Fleet:
    target = _int(body.get("target_capacity"))
    on_demand = min(target, _int(body.get("on_demand_target_capacity")))
    configs = blocks(body.get("launch_template_config"))
    types = tuple(dict.fromkeys(o["instance_type"] for c in configs for o in blocks(c.get("overrides"))))
    return Fleet(name, region, types, on_demand, target - on_demand)


def needs_of(docs: list[StackDocument], default_region: str) -> Needs:
    """What ``docs`` need at their maximum sizes (every stack of a synth)."""
    needs = Needs()
    for doc in docs:
        regions = _regions(doc, default_region)
        resources = doc.doc.get("resource", {})
        for body in resources.get("aws_lambda_function", {}).values():
            region = _region_of(body, regions)
            reserved = _int(body.get("reserved_concurrent_executions"), 0)
            needs.lambda_reserved[region] = needs.lambda_reserved.get(region, 0) + max(reserved, 0)
        task_cpu = [_int(t.get("cpu")) for t in resources.get("aws_ecs_task_definition", {}).values()]
        for body in resources.get("aws_appautoscaling_target", {}).values():
            if body.get("service_namespace") == "ecs" and task_cpu:
                region = _region_of(body, regions)
                vcpu = _int(body.get("max_capacity")) * max(task_cpu) / 1024
                needs.fargate_vcpu[region] = needs.fargate_vcpu.get(region, 0) + vcpu
        for key, body in resources.get("aws_autoscaling_group", {}).items():
            needs.fleets.append(_asg(f"{doc.name}/{key}", body, _region_of(body, regions)))
        for key, body in resources.get("aws_spot_fleet_request", {}).items():
            needs.fleets.append(_spot_fleet(f"{doc.name}/{key}", body, _region_of(body, regions)))
        for body in resources.get("aws_lb_listener", {}).values():
            arn = str(body.get("certificate_arn", ""))
            if _ACM_ARN.match(arn) and arn not in needs.certificates:
                needs.certificates.append(arn)
    return needs
