"""The graph a stack's diagram draws: its nodes (the resources that make the stack fault
tolerant, each with its shape and a fact or two), the edges between them, and where each
sits (an AZ, the VPC, or regional). ``diagram_edges`` finds the edges, ``diagrams`` draws it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from modules.policy.document import Resource, StackDocument
from modules.policy.rules import spanned_zones
from tools.docs.stack_facts import is_dead_letter_queue, target_detection

SHAPES: dict[str, tuple[str, str, str]] = {  # type -> (kind label, shape, fill)
    "aws_lb": ("load balancer", "box", "#f5d0a9"),
    "aws_lb_target_group": ("target group", "box", "#fbe3cc"),
    "aws_ecs_service": ("ECS service", "box3d", "#c9e4f6"),
    "aws_autoscaling_group": ("Auto Scaling group", "box3d", "#c9e4f6"),
    "aws_spot_fleet_request": ("Spot Fleet", "box3d", "#c9e4f6"),
    "aws_lambda_function": ("Lambda", "component", "#c9e4f6"),
    "aws_s3_bucket": ("S3 bucket", "cylinder", "#d5ecd4"),
    "aws_dynamodb_table": ("DynamoDB table", "cylinder", "#d5ecd4"),
    "aws_kinesis_stream": ("Kinesis stream", "cds", "#e6d9f2"),
    "aws_sqs_queue": ("SQS queue", "cds", "#e6d9f2"),
    "aws_sns_topic": ("SNS topic", "cds", "#e6d9f2"),
    "aws_cloudwatch_event_rule": ("EventBridge rule", "hexagon", "#eeeeee"),
    "aws_ecr_repository": ("ECR repository", "cylinder", "#d5ecd4"),
    "aws_subnet": ("subnet", "box", "white"),
    "aws_nat_gateway": ("NAT gateway", "diamond", "#eeeeee"),
}


@dataclass
class Graph:
    doc: StackDocument
    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (tier, attributes)
    edges: set[tuple[str, str, str]] = field(default_factory=set)  # (from, to, attributes)

    def node_id(self, res: Resource) -> str:
        return f"{res.type}.{res.name}"

    def add_edge(self, a: Resource, b: Resource, attrs: str = "") -> None:
        if self.node_id(a) in self.nodes and self.node_id(b) in self.nodes and a != b:
            self.edges.add((self.node_id(a), self.node_id(b), attrs))


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def az_label(subnet: Resource) -> str:
    az = str(subnet.body.get("availability_zone", subnet.body.get("availability_zone_id", "?")))
    m = re.fullmatch(r"\$\{element\(.*, (\d+)\)\}", az)
    return f"AZ {int(m.group(1)) + 1}" if m else az


def subnet_tier(subnet: Resource) -> str:
    tier = (subnet.body.get("tags") or {}).get("tier")
    if tier in ("public", "private"):
        return str(tier)
    return "public" if subnet.body.get("map_public_ip_on_launch") in (True, "true") else "private"


def subnets_of(doc: StackDocument, res: Resource) -> list[Resource]:
    if res.type == "aws_lb":
        value: Any = [res.body.get("subnets"), res.body.get("subnet_mapping")]
    elif res.type == "aws_ecs_service":
        value = res.get("network_configuration.subnets")
    elif res.type == "aws_autoscaling_group":
        value = res.body.get("vpc_zone_identifier")
    elif res.type == "aws_spot_fleet_request":
        value = [res.body.get("launch_template_config"), res.body.get("launch_specification")]
    elif res.type == "aws_lambda_function":
        value = res.get("vpc_config.subnet_ids")
    else:
        value = None
    return doc.referenced(value, "aws_subnet")


def node_facts(doc: StackDocument, res: Resource) -> list[str]:
    """One or two short facts about fault tolerance, under the node's name."""
    b = res.body
    if res.type in ("aws_lb", "aws_ecs_service", "aws_autoscaling_group", "aws_spot_fleet_request"):
        n = len(spanned_zones(doc, res)[0])
        facts = [f"{n} AZs"]
        if res.type == "aws_ecs_service":
            facts.append(f"{b.get('desired_count', 1)} tasks")
            if res.get("deployment_circuit_breaker.rollback") in (True, "true"):
                facts.append("circuit breaker")
        if res.type == "aws_spot_fleet_request":
            facts.append(f"{b.get('fleet_type', 'maintain')}, {b.get('target_capacity')} instances")
        if res.type == "aws_autoscaling_group":
            facts.append(
                f"{b.get('min_size')}-{b.get('max_size')} instances, {b.get('health_check_type', 'EC2')} checks"
            )
        return facts
    if res.type == "aws_lb_target_group":
        interval, unhealthy, _ = target_detection(doc, res)
        return [f"out after {interval} s x {unhealthy}"]
    if res.type == "aws_sqs_queue":
        return ["dead-letter queue"] if is_dead_letter_queue(doc, res) else []
    if res.type == "aws_kinesis_stream":
        return [str(res.get("stream_mode_details.stream_mode", "PROVISIONED")).lower().replace("_", "-")]
    if res.type == "aws_lambda_function":
        return [f"{b.get('timeout', 3)} s timeout"]
    return []
