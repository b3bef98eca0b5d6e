"""Architecture diagrams of each stack, drawn from its synthesized JSON with Graphviz.

    python -m tools.docs.diagrams [--check] [--dot-only] [cdktf.out]

Writes ``docs/diagrams/<stack>.dot`` (Graphviz source, checked for staleness by a test)
and, with Graphviz's ``dot`` on PATH, ``<stack>.svg`` and ``<stack>.png``. With no
source it synthesizes the embedded defaults itself (what ``make diagrams`` does).

What is drawn is what makes a stack fault tolerant, not every resource: the VPC's tiers
(public, private) with one subnet per AZ and the NAT each AZ leaves through; load
balancer -> target groups -> services, groups and fleets, with an edge to every subnet
(so the AZ spread is visible); event paths (bucket -> queue -> function, stream ->
workers -> sinks, queue -> DLQ on redrive, EventBridge rule -> topic); and which
resources have alarms. Reads and writes of compute come from its IAM policy's actions.
IAM, KMS, logs, security groups and policies are left out: the scorecard covers them.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.core.paths import PROJECT_ROOT
from modules.policy.document import Resource, StackDocument, load_outdir, references
from modules.policy.rules import mapping_source, spanned_zones
from tools.docs.scorecard import is_dead_letter_queue, target_detection

DEFAULT_DIR = PROJECT_ROOT / "docs" / "diagrams"

COMPUTE = ("aws_ecs_service", "aws_autoscaling_group", "aws_spot_fleet_request", "aws_lambda_function")
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
_READS = re.compile(r":(Get|Receive|Read|Describe|List|Scan|Query|Subscribe|BatchGet)")
_WRITES = re.compile(r":(Put|Send|Write|Update|Delete|BatchWrite|Publish)")


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


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _short(doc: StackDocument, res: Resource) -> str:
    return res.path.removeprefix(f"{doc.name}/")


def _az_label(subnet: Resource) -> str:
    az = str(subnet.body.get("availability_zone", subnet.body.get("availability_zone_id", "?")))
    m = re.fullmatch(r"\$\{element\(.*, (\d+)\)\}", az)
    return f"AZ {int(m.group(1)) + 1}" if m else az


def subnet_tier(subnet: Resource) -> str:
    tier = (subnet.body.get("tags") or {}).get("tier")
    if tier in ("public", "private"):
        return str(tier)
    return "public" if subnet.body.get("map_public_ip_on_launch") in (True, "true") else "private"


def _subnets_of(doc: StackDocument, res: Resource) -> list[Resource]:
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


def _facts(doc: StackDocument, res: Resource) -> list[str]:
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


def build(doc: StackDocument) -> Graph:
    g = Graph(doc)

    def group_of(res: Resource) -> str:
        """``az:<label>`` for subnets and NAT gateways, ``vpc`` for what runs in subnets, else ``regional``."""
        if res.type == "aws_subnet":
            return f"az:{_az_label(res)}"
        if res.type == "aws_nat_gateway":
            subnets = doc.referenced(res.body.get("subnet_id"), "aws_subnet")
            return f"az:{_az_label(subnets[0])}" if subnets else "vpc"
        if res.type == "aws_lb_target_group" or _subnets_of(doc, res):
            return "vpc"
        return "regional"

    for res in doc:
        if res.type in SHAPES:
            kind, shape, fill = SHAPES[res.type]
            if res.type == "aws_subnet":
                kind = f"{subnet_tier(res)} subnet"
            label = "\n".join([_short(doc, res), kind, *_facts(doc, res)])
            style = "filled,dashed" if res.type == "aws_subnet" else "filled"
            attrs = f'label={_quote(label)}, shape={shape}, style="{style}", fillcolor="{fill}"'
            g.nodes[g.node_id(res)] = (group_of(res), attrs)
    if any(lb.body.get("internal") not in (True, "true") for lb in doc.of_type("aws_lb")):
        g.nodes["internet"] = ("outside", 'label="clients (internet)", shape=plaintext')
        for lb in doc.of_type("aws_lb"):
            if lb.body.get("internal") not in (True, "true"):
                g.edges.add(("internet", g.node_id(lb), ""))

    _traffic_edges(doc, g)
    _event_edges(doc, g)
    _compute_edges(doc, g)
    _alarm_edges(doc, g)
    return g


def _traffic_edges(doc: StackDocument, g: Graph) -> None:
    for listener in doc.of_type("aws_lb_listener"):
        lbs = doc.referenced(listener.body.get("load_balancer_arn"), "aws_lb")
        for lb in lbs:
            for tg in doc.referenced(listener.body.get("default_action"), "aws_lb_target_group"):
                g.add_edge(lb, tg, f'label="{listener.body.get("protocol", "")}:{listener.body.get("port", "")}"')
    for rule in doc.of_type("aws_lb_listener_rule"):
        for listener in doc.referenced(rule.body.get("listener_arn"), "aws_lb_listener"):
            for lb in doc.referenced(listener.body.get("load_balancer_arn"), "aws_lb"):
                for tg in doc.referenced(rule.body.get("action"), "aws_lb_target_group"):
                    g.add_edge(lb, tg, 'label="rule"')
    for res in doc.of_type("aws_ecs_service", "aws_autoscaling_group"):
        value = res.body.get("load_balancer") if res.type == "aws_ecs_service" else res.body.get("target_group_arns")
        for tg in doc.referenced(value, "aws_lb_target_group"):
            g.add_edge(tg, res, 'label="health-checked"')
    for att in doc.of_type("aws_autoscaling_attachment"):
        for tg in doc.referenced(att.body.get("lb_target_group_arn"), "aws_lb_target_group"):
            for asg in doc.referenced(att.body.get("autoscaling_group_name"), "aws_autoscaling_group"):
                g.add_edge(tg, asg, 'label="health-checked"')
    # Placement: an edge to every subnet a resource runs in shows its AZ spread.
    for res in doc.of_type("aws_lb", *COMPUTE):
        for subnet in _subnets_of(doc, res):
            g.add_edge(res, subnet, 'style="dotted", arrowhead="none", color="#888888"')
    routes = doc.of_type("aws_route")
    for nat in doc.of_type("aws_nat_gateway"):
        for subnet in doc.referenced(nat.body.get("subnet_id"), "aws_subnet"):
            g.add_edge(subnet, nat, 'arrowhead="none", color="#888888"')
        for route in routes:
            if (nat.type, nat.name) in references(route.body.get("nat_gateway_id")):
                for table in doc.referenced(route.body.get("route_table_id"), "aws_route_table"):
                    for assoc in doc.referencing(table, "aws_route_table_association", key="route_table_id"):
                        for subnet in doc.referenced(assoc.body.get("subnet_id"), "aws_subnet"):
                            g.add_edge(subnet, nat, 'label="egress", style="dashed", color="#888888"')


def _through_aliases(doc: StackDocument, value: Any, *types: str) -> list[Resource]:
    """What ``value`` references, a Lambda alias standing for its function (a canary moves
    the alias between the function's versions: the diagram shows the function)."""
    out = []
    for res in doc.referenced(value):
        if res.type == "aws_lambda_alias":
            out += doc.referenced(res.body.get("function_name"), "aws_lambda_function")
        elif not types or res.type in types:
            out.append(res)
    return out


def _event_edges(doc: StackDocument, g: Graph) -> None:
    for note in doc.of_type("aws_s3_bucket_notification"):
        for bucket in doc.referenced(note.body.get("bucket"), "aws_s3_bucket"):
            for key in ("queue", "lambda_function", "topic"):
                for block in note.body.get(key) or []:
                    label = (
                        "".join(str(block.get(k, "")) for k in ("filter_prefix",))
                        + "*"
                        + str(block.get("filter_suffix", ""))
                    )
                    for target in _through_aliases(doc, block):
                        g.add_edge(bucket, target, f"label={_quote(label)}")
    for m in doc.of_type("aws_lambda_event_source_mapping"):
        for fn in _through_aliases(doc, m.body.get("function_name"), "aws_lambda_function"):
            for src in doc.referenced(m.body.get("event_source_arn")):
                g.add_edge(src, fn, f'label="{"poll" if mapping_source(doc, m) == "queue" else "shards"}"')
            for dest in doc.referenced(m.get("destination_config.on_failure")):
                g.add_edge(fn, dest, 'label="on failure", color="#c0392b", fontcolor="#c0392b"')
    for q in doc.of_type("aws_sqs_queue"):
        redrive = q.body.get("redrive_policy")
        for dlq in doc.referenced(redrive, "aws_sqs_queue"):
            receives = re.search(r'"maxReceiveCount":\s*(\d+)', str(redrive))
            label = f"after {receives.group(1)} receives" if receives else "redrive"
            g.add_edge(q, dlq, f'label="{label}", color="#c0392b", fontcolor="#c0392b"')
    for fn in doc.of_type("aws_lambda_function"):
        for dest in doc.referenced(fn.get("dead_letter_config")):
            g.add_edge(fn, dest, 'label="DLQ", color="#c0392b", fontcolor="#c0392b"')
    for cfg in doc.of_type("aws_lambda_function_event_invoke_config"):
        for fn in doc.referenced(cfg.body.get("function_name"), "aws_lambda_function"):
            for dest in doc.referenced(cfg.get("destination_config.on_failure")):
                g.add_edge(fn, dest, 'label="on failure", color="#c0392b", fontcolor="#c0392b"')
            for dest in doc.referenced(cfg.get("destination_config.on_success")):
                g.add_edge(fn, dest, 'label="on success"')
    for target in doc.of_type("aws_cloudwatch_event_target"):
        for rule in doc.referenced(target.body.get("rule"), "aws_cloudwatch_event_rule"):
            for dest in doc.referenced(target.body.get("arn")):
                g.add_edge(rule, dest)
    for sub in doc.of_type("aws_sns_topic_subscription"):
        for topic in doc.referenced(sub.body.get("topic_arn"), "aws_sns_topic"):
            for dest in doc.referenced(sub.body.get("endpoint")):
                g.add_edge(topic, dest)


def _roles_of(doc: StackDocument, compute: Resource) -> list[Resource]:
    """The IAM roles a compute resource runs as (directly, through a task definition or a
    launch template's instance profile)."""
    if compute.type == "aws_lambda_function":
        return doc.referenced(compute.body.get("role"), "aws_iam_role")
    if compute.type == "aws_ecs_service":
        tasks = doc.referenced(compute.body.get("task_definition"), "aws_ecs_task_definition")
        return [r for t in tasks for r in doc.referenced(t.body.get("task_role_arn"), "aws_iam_role")]
    templates = doc.referenced(compute.body, "aws_launch_template")
    profiles = [
        p for t in templates for p in doc.referenced(t.body.get("iam_instance_profile"), "aws_iam_instance_profile")
    ]
    return [r for p in profiles for r in doc.referenced(p.body.get("role"), "aws_iam_role")]


def _policy_targets(doc: StackDocument, resource_field: Any) -> list[Resource]:
    """Resources a policy statement names: by reference, or a bucket by its literal name."""
    found = doc.referenced(resource_field)
    text = json.dumps(resource_field)
    for bucket in doc.of_type("aws_s3_bucket"):
        name = bucket.body.get("bucket")
        if isinstance(name, str) and f":s3:::{name}" in text and bucket not in found:
            found.append(bucket)
    return found


def _compute_edges(doc: StackDocument, g: Graph) -> None:
    structural = {frozenset((a, b)) for a, b, _ in g.edges}
    for compute in doc.of_type(*COMPUTE):
        for role in _roles_of(doc, compute):
            for policy in doc.referencing(role, "aws_iam_role_policy", key="role"):
                try:
                    statements = json.loads(policy.body.get("policy", "{}")).get("Statement", [])
                except ValueError:
                    continue
                for st in statements:
                    if st.get("Effect") != "Allow":
                        continue
                    action = st.get("Action")
                    actions = " " + " ".join(action if isinstance(action, list) else [str(action)])
                    for target in _policy_targets(doc, st.get("Resource")):
                        if frozenset((g.node_id(compute), g.node_id(target))) in structural:
                            continue  # already drawn as what it is (a mapping, a notification)
                        if target.type == "aws_s3_bucket" and "artifacts" in _short(doc, target):
                            continue  # the code the instances boot from: drawn below
                        reads, writes = bool(_READS.search(actions)), bool(_WRITES.search(actions))
                        if reads and writes:
                            g.add_edge(compute, target, 'dir="both", label="read/write"')
                        elif reads:
                            g.add_edge(target, compute, 'label="read"')
                        elif writes:
                            g.add_edge(compute, target, 'label="write"')
        for template in doc.referenced(compute.body, "aws_launch_template"):
            for bucket in doc.referenced(template.body.get("user_data"), "aws_s3_bucket"):
                if "artifacts" in _short(doc, bucket):
                    g.add_edge(bucket, compute, 'label="code at boot", style="dashed"')
        if compute.type == "aws_ecs_service":
            for task in doc.referenced(compute.body.get("task_definition"), "aws_ecs_task_definition"):
                for repo in doc.referenced(task.body.get("container_definitions"), "aws_ecr_repository"):
                    g.add_edge(repo, compute, 'label="image", style="dashed"')


def _alarm_edges(doc: StackDocument, g: Graph) -> None:
    alarms = doc.of_type("aws_cloudwatch_metric_alarm")
    if not alarms:
        return
    topics = {t for a in alarms for t in references(a.body.get("alarm_actions"))}
    watched = {r for a in alarms for r in references(a.body) if r not in topics}
    label = f"{len(alarms)} CloudWatch alarms"
    g.nodes["alarms"] = ("regional", f'label="{label}", shape=note, style="filled", fillcolor="#fff3b0"')
    for rtype, name in sorted(watched):
        if f"{rtype}.{name}" in g.nodes:
            g.edges.add((f"{rtype}.{name}", "alarms", 'style="dotted", color="#b7950b", arrowhead="none"'))
    for rtype, name in sorted(topics):
        if f"{rtype}.{name}" in g.nodes:
            g.edges.add(("alarms", f"{rtype}.{name}", 'label="notify", color="#b7950b"'))


def to_dot(g: Graph) -> str:
    """Deterministic Graphviz source: the VPC with one cluster per AZ, regional services
    apart; nodes and edges sorted."""
    lines = [
        f"digraph {_quote(g.doc.name)} {{",
        '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, nodesep=0.3, ranksep=0.5, newrank=true, '
        f"label={_quote(f'stack {g.doc.name} (drawn from its synthesized Terraform JSON)')}, labelloc=t];",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    groups: dict[str, list[str]] = {}
    for node_id, (group, attrs) in sorted(g.nodes.items()):
        groups.setdefault(group, []).append(f"    {_quote(node_id)} [{attrs}];")
    lines += groups.get("outside", [])
    azs = sorted(k for k in groups if k.startswith("az:"))
    if azs or "vpc" in groups:
        lines += ["  subgraph cluster_vpc {", '    label="VPC"; style="rounded"; color="#2e86c1";']
        lines += groups.get("vpc", [])
        for i, az in enumerate(azs):
            lines += [f"  subgraph cluster_az{i} {{", f'    label="{az[3:]}"; style="dashed"; color="#2e86c1";']
            lines += groups[az]
            lines.append("  }")
        lines.append("  }")
    if "regional" in groups:
        lines += ["  subgraph cluster_regional {", '    label="regional services (multi-AZ by AWS)"; style="rounded";']
        lines += groups["regional"]
        lines.append("  }")
    # Subnets of one tier side by side across the AZs, NAT gateways below them.
    for kind in ("public subnet", "private subnet", "NAT gateway"):
        same = sorted(n for n, (grp, attrs) in g.nodes.items() if grp.startswith("az:") and f"\\n{kind}" in attrs)
        if len(same) > 1:
            lines.append("  { rank=same; " + " ".join(_quote(n) + ";" for n in same) + " }")
    for a, b, attrs in sorted(g.edges):
        lines.append(f"  {_quote(a)} -> {_quote(b)}" + (f" [{attrs}];" if attrs else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_path: Path) -> list[Path]:
    """SVG and PNG beside ``dot_path`` with Graphviz's ``dot``."""
    dot = shutil.which("dot")
    if dot is None:
        raise FileNotFoundError(
            "Graphviz `dot` is not on PATH: `make graphviz` installs it (Debian: apt-get install graphviz)"
        )
    out = []
    for fmt in ("svg", "png"):
        target = dot_path.with_suffix(f".{fmt}")
        extra = ["-Gdpi=96"] if fmt == "png" else []
        subprocess.run([dot, f"-T{fmt}", *extra, "-o", str(target), str(dot_path)], check=True)
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="draw every stack from its synthesized JSON")
    parser.add_argument("source", nargs="?", help="synth output dir; default: synth the embedded defaults")
    parser.add_argument("--out", default=str(DEFAULT_DIR))
    parser.add_argument("--check", action="store_true", help="fail if a .dot file is not up to date")
    parser.add_argument("--dot-only", action="store_true", help="write the Graphviz sources only")
    args = parser.parse_args(argv)
    if args.source is None:
        from tools.default_synth import default_stacks

        docs = default_stacks()
    else:
        docs = load_outdir(args.source)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stale = []
    for doc in docs:
        dot_path = out / f"{doc.name}.dot"
        text = to_dot(build(doc))
        if args.check:
            if not dot_path.exists() or dot_path.read_text() != text:
                stale.append(str(dot_path))
            continue
        dot_path.write_text(text)
        written = [dot_path] if args.dot_only else [dot_path, *render(dot_path)]
        print(
            f"{doc.name}: "
            + ", ".join(str(p.relative_to(out.parent) if p.is_relative_to(out.parent) else p) for p in written)
        )
    if stale:
        print(f"stale: {', '.join(stale)}: run `make diagrams`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
