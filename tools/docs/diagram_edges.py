"""The edges of a stack's diagram: traffic (load balancer -> target groups -> compute, placement
in subnets, NAT egress), events (notifications, mappings, redrive, destinations, rules,
subscriptions), data (reads and writes from each compute's IAM policy) and alarms."""

from __future__ import annotations

import json
import re
from typing import Any

from modules.policy.document import Resource, StackDocument, references
from modules.policy.rules import mapping_source
from tools.docs.diagram_graph import Graph, quote, subnets_of
from tools.docs.stack_facts import short_path

COMPUTE = ("aws_ecs_service", "aws_autoscaling_group", "aws_spot_fleet_request", "aws_lambda_function")

_READS = re.compile(r":(Get|Receive|Read|Describe|List|Scan|Query|Subscribe|BatchGet)")
_WRITES = re.compile(r":(Put|Send|Write|Update|Delete|BatchWrite|Publish)")


def traffic_edges(doc: StackDocument, g: Graph) -> None:
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
        for subnet in subnets_of(doc, res):
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


def event_edges(doc: StackDocument, g: Graph) -> None:
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
                        g.add_edge(bucket, target, f"label={quote(label)}")
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


def compute_edges(doc: StackDocument, g: Graph) -> None:
    structural = {frozenset((a, b)) for a, b, _ in g.edges}
    for compute in doc.of_type(*COMPUTE):
        # What the compute may do to each target, over all its statements: one edge per target.
        access: dict[str, tuple[Resource, bool, bool]] = {}
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
                        if target.type == "aws_s3_bucket" and "artifacts" in short_path(doc, target):
                            continue  # the code the instances boot from: drawn below
                        _, reads, writes = access.get(g.node_id(target), (target, False, False))
                        reads |= bool(_READS.search(actions))
                        writes |= bool(_WRITES.search(actions))
                        access[g.node_id(target)] = (target, reads, writes)
        for target, reads, writes in access.values():
            if reads and writes:
                g.add_edge(compute, target, 'dir="both", label="read/write"')
            elif reads:
                g.add_edge(target, compute, 'label="read"')
            elif writes:
                g.add_edge(compute, target, 'label="write"')
        for template in doc.referenced(compute.body, "aws_launch_template"):
            for bucket in doc.referenced(template.body.get("user_data"), "aws_s3_bucket"):
                if "artifacts" in short_path(doc, bucket):
                    g.add_edge(bucket, compute, 'label="code at boot", style="dashed"')
        if compute.type == "aws_ecs_service":
            for task in doc.referenced(compute.body.get("task_definition"), "aws_ecs_task_definition"):
                for repo in doc.referenced(task.body.get("container_definitions"), "aws_ecr_repository"):
                    g.add_edge(repo, compute, 'label="image", style="dashed"')


def alarm_edges(doc: StackDocument, g: Graph) -> None:
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
