"""The resilience rules, one small class each, over a stack's synthesized JSON.

A rule names the resource types it looks at and returns, for one resource, what is
wrong with it (nothing when it passes). Rules are written over resource *types*, not
stacks, so a new stack is covered without changes. Resources with ``count = 0`` do not
exist and are never looked at (:class:`~modules.policy.document.StackDocument`).
"""

from __future__ import annotations

import json
from typing import Any

from modules.policy.chaos_rules import ExperimentStopConditions, ExperimentTargetsScoped
from modules.policy.document import Resource, StackDocument, data_references, references
from modules.policy.fis_limits import ExperimentWithinFisLimits
from modules.policy.internet_access_rules import NoOpenIngress, PublicEndpointProtected
from modules.policy.protection_rules import STATEFUL_TYPES as STATEFUL_TYPES  # re-exported: the plan review reads it
from modules.policy.protection_rules import (
    ProdLoadBalancerDeletionProtection,
    ProdNoForceDestroy,
    ProdStatefulProtected,
)
from modules.policy.rule import Rule, blocks, is_true

# --- capacity spread ----------------------------------------------------------------------


class MultiAz(Rule):
    """Load balancers, Auto Scaling groups, ECS services and fleets span >= 2 AZs.

    The AZs are those of the subnets (or zones) the resource names; an AZ that cannot be
    told from the JSON (a literal subnet id, a variable) does not count.
    """

    id = "multi-az"
    summary = "a load balancer, Auto Scaling group, ECS service or fleet spans >= 2 AZs"
    types = ("aws_lb", "aws_autoscaling_group", "aws_ecs_service", "aws_spot_fleet_request")

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        zones, unknown = spanned_zones(doc, res)
        if len(zones) >= 2:
            return []
        detail = f"; cannot tell the AZ of {', '.join(unknown)}" if unknown else ""
        return [f"spans {len(zones)} provable AZ(s), needs >= 2{detail}"]


def spanned_zones(doc: StackDocument, res: Resource) -> tuple[set[str], list[str]]:
    """The AZs a capacity resource spans (see :meth:`StackDocument.availability_zones`)."""
    literal: set[str] = set()
    unknown_zones: set[str] = set()
    subnets: list[Any] = []
    if res.type == "aws_lb":
        subnets = [res.body.get("subnets", []), [m.get("subnet_id") for m in blocks(res.body.get("subnet_mapping"))]]
    elif res.type == "aws_autoscaling_group":
        subnets = [res.body.get("vpc_zone_identifier", [])]
        zones = res.body.get("availability_zones", [])
        for zone in zones if isinstance(zones, list) else [zones]:
            # An expression (a data source's list, a variable) proves nothing about its length.
            (unknown_zones if "${" in str(zone) else literal).add(str(zone))
    elif res.type == "aws_ecs_service":
        subnets = [res.get("network_configuration.subnets", [])]
    elif res.type == "aws_spot_fleet_request":
        for config in blocks(res.body.get("launch_template_config")):
            for override in blocks(config.get("overrides")):
                subnets.append(override.get("subnet_id"))
                if override.get("availability_zone"):
                    literal.add(str(override["availability_zone"]))
        for spec in blocks(res.body.get("launch_specification")):
            subnets.append(spec.get("subnet_id"))
            if spec.get("availability_zone"):
                literal.add(str(spec["availability_zone"]))
    zones, unknown = doc.availability_zones([s for s in subnets if s])
    return zones | literal, [*unknown, *sorted(unknown_zones)]


# --- instances ------------------------------------------------------------------------------


class NoLaunchConfiguration(Rule):
    """Launch configurations are retired by AWS (no new instance types, no IMDSv2 default)."""

    id = "no-launch-configuration"
    summary = "no launch configurations: use a launch template"
    types = ("aws_launch_configuration",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        return ["a launch configuration: use a launch template"]


class Imdsv2Only(Rule):
    """A launch template requires IMDSv2 tokens (IMDSv1 answers SSRF with credentials)."""

    id = "imdsv2"
    summary = "launch templates require IMDSv2 (http_tokens = required)"
    types = ("aws_launch_template",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        if res.get("metadata_options.http_endpoint") == "disabled":
            return []
        tokens = res.get("metadata_options.http_tokens")
        return [] if tokens == "required" else [f"allows IMDSv1 (metadata_options.http_tokens = {tokens!r})"]


# --- where failures land --------------------------------------------------------------------

# Services that invoke a Lambda function asynchronously (the event is queued by Lambda).
ASYNC_PRINCIPALS = (
    "s3.amazonaws.com",
    "sns.amazonaws.com",
    "events.amazonaws.com",
    "scheduler.amazonaws.com",
    "logs.amazonaws.com",
    "iot.amazonaws.com",
    "ses.amazonaws.com",
    "config.amazonaws.com",
    "lambda.alarms.cloudwatch.amazonaws.com",
)


def async_invokers(doc: StackDocument, function: Resource) -> list[Resource]:
    """What invokes ``function`` asynchronously: permissions for async services, S3
    notifications, SNS subscriptions, EventBridge targets, an async invoke config."""
    found = [
        p
        for p in doc.referencing(function, "aws_lambda_permission", key="function_name")
        if p.body.get("principal") in ASYNC_PRINCIPALS
    ]
    # Triggers may invoke an alias of the function (a canary moves it between versions).
    for target in (function, *doc.referencing(function, "aws_lambda_alias", key="function_name")):
        found += doc.referencing(target, "aws_s3_bucket_notification", key="lambda_function")
    found += [
        s
        for s in doc.referencing(function, "aws_sns_topic_subscription", key="endpoint")
        if s.body.get("protocol") == "lambda"
    ]
    found += doc.referencing(function, "aws_cloudwatch_event_target", key="arn")
    found += doc.referencing(function, "aws_lambda_function_event_invoke_config", key="function_name")
    return found


def async_failure_destination(doc: StackDocument, function: Resource) -> str | None:
    """Where a failed asynchronous invocation of ``function`` lands, or None."""
    for config in doc.referencing(function, "aws_lambda_function_event_invoke_config", key="function_name"):
        target = config.get("destination_config.on_failure.destination")
        if target:
            return str(target)
    target = function.get("dead_letter_config.target_arn")
    return str(target) if target else None


class AsyncLambdaFailureDestination(Rule):
    """An asynchronously invoked Lambda function has an on-failure destination or a DLQ,
    so an event that fails every retry is kept, not dropped after 6 hours."""

    id = "lambda-async-failure-destination"
    summary = "an asynchronously invoked Lambda has an on-failure destination or DLQ"
    types = ("aws_lambda_function",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        invokers = async_invokers(doc, res)
        if not invokers or async_failure_destination(doc, res):
            return []
        return [f"invoked asynchronously by {invokers[0].address} with no on-failure destination or DLQ"]


# Event sources whose mapping can send a failed batch to an on-failure destination.
_FAILURE_DESTINATION_SOURCES = ("aws_kinesis_stream", "aws_dynamodb_table", "aws_msk_cluster")
_FAILURE_DESTINATION_ARNS = (":kinesis:", ":dynamodb:", ":kafka:")


def mapping_source(doc: StackDocument, mapping: Resource) -> str:
    """``stream`` (Kinesis, DynamoDB streams, Kafka: on-failure destinations), ``queue``
    (SQS, MQ: failures go to the queue's own redrive), or ``unknown``."""
    arn = mapping.body.get("event_source_arn")
    if mapping.body.get("self_managed_event_source"):
        return "stream"
    for source in doc.referenced(arn):
        if source.type in _FAILURE_DESTINATION_SOURCES:
            return "stream"
        if source.type in ("aws_sqs_queue", "aws_mq_broker"):
            return "queue"
    text = str(arn or "")
    if any(s in text for s in _FAILURE_DESTINATION_ARNS):
        return "stream"
    if ":sqs:" in text or ":mq:" in text:
        return "queue"
    return "unknown"


class EventSourceFailureDestination(Rule):
    """An event source mapping from a stream has an on-failure destination: otherwise a
    poison batch blocks its shard until the records expire, then they are lost."""

    id = "esm-on-failure-destination"
    summary = "an event source mapping has an on-failure destination where the source supports one"
    types = ("aws_lambda_event_source_mapping",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        if mapping_source(doc, res) == "queue" or res.get("destination_config.on_failure.destination_arn"):
            return []
        return ["reads a stream (or an unknown source) with no destination_config.on_failure"]


def dead_letter_targets(doc: StackDocument) -> set[tuple[str, str]]:
    """Every resource used as a dead-letter or on-failure target anywhere in the stack:
    redrive policies, Lambda DLQs and on-failure destinations, subscription and rule DLQs."""
    targets: set[tuple[str, str]] = set()
    for res in doc:
        for key in ("redrive_policy", "dead_letter_config", "destination_config.on_failure", "redrive_config"):
            targets.update(references(res.get(key)))
    return targets


class SqsRedrive(Rule):
    """An SQS queue redrives to a DLQ after a few receives (DLQs themselves excepted), so a
    poison message does not loop until its retention expires."""

    id = "sqs-redrive"
    summary = "an SQS queue has a redrive policy, unless it is itself a dead-letter target"
    types = ("aws_sqs_queue",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        if res.body.get("redrive_policy") or doc.referencing(res, "aws_sqs_queue_redrive_policy", key="queue_url"):
            return []
        if (res.type, res.name) in dead_letter_targets(doc):
            return []
        return ["no redrive policy, and no other resource uses it as a dead-letter target"]


# --- data at rest -----------------------------------------------------------------------------


class _BucketCompanionRule(Rule):
    types = ("aws_s3_bucket",)


class S3Encryption(_BucketCompanionRule):
    """A bucket has an explicit default encryption configuration."""

    id = "s3-encryption"
    summary = "an S3 bucket has a server-side encryption configuration"

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        if res.get("server_side_encryption_configuration.rule.apply_server_side_encryption_by_default.sse_algorithm"):
            return []
        for config in doc.companions(res, "aws_s3_bucket_server_side_encryption_configuration"):
            if config.get("rule.apply_server_side_encryption_by_default.sse_algorithm"):
                return []
        return ["no aws_s3_bucket_server_side_encryption_configuration"]


class S3Versioning(_BucketCompanionRule):
    """A bucket keeps versions, so an overwrite or delete can be undone."""

    id = "s3-versioning"
    summary = "an S3 bucket has versioning enabled"

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        if is_true(res.get("versioning.enabled")):
            return []
        for config in doc.companions(res, "aws_s3_bucket_versioning"):
            if config.get("versioning_configuration.status") == "Enabled":
                return []
        return ["no aws_s3_bucket_versioning with status Enabled"]


class S3PublicAccessBlock(_BucketCompanionRule):
    """A bucket blocks every kind of public access."""

    id = "s3-public-access-block"
    summary = "an S3 bucket has a public access block with all four settings on"
    _KEYS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        for block in doc.companions(res, "aws_s3_bucket_public_access_block"):
            off = [k for k in self._KEYS if not is_true(block.body.get(k))]
            return [f"public access block leaves off {', '.join(off)}"] if off else []
        return ["no aws_s3_bucket_public_access_block"]


class S3TlsOnly(_BucketCompanionRule):
    """A bucket policy denies requests without TLS (``aws:SecureTransport`` false)."""

    id = "s3-tls-only"
    summary = "an S3 bucket has a policy that denies non-TLS requests"

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        for policy in doc.companions(res, "aws_s3_bucket_policy"):
            text = json.dumps(policy.body.get("policy"))
            for dtype, dname in data_references(policy.body.get("policy")):
                text += json.dumps(doc.doc.get("data", {}).get(dtype, {}).get(dname, {}))
            if "aws:SecureTransport" in text and "Deny" in text:
                return []
        return ["no bucket policy denying aws:SecureTransport = false"]


class EncryptedAtRest(Rule):
    """Streams, queues, topics and tables are encrypted at rest with a KMS key (or, for
    SQS, SSE-SQS) that the stack states, not left to a default."""

    id = "encryption-at-rest"
    summary = "a Kinesis stream, SQS queue, SNS topic or DynamoDB table is encrypted"
    types = ("aws_kinesis_stream", "aws_sqs_queue", "aws_sns_topic", "aws_dynamodb_table")

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        return [] if encrypted(res) else ["not encrypted at rest"]


def encrypted(res: Resource) -> bool:
    """Whether a stream, queue, topic or table states encryption at rest."""
    if res.type == "aws_kinesis_stream":
        return res.body.get("encryption_type") == "KMS"
    if res.type == "aws_sqs_queue":
        return bool(res.body.get("kms_master_key_id")) or is_true(res.body.get("sqs_managed_sse_enabled"))
    if res.type == "aws_sns_topic":
        return bool(res.body.get("kms_master_key_id"))
    if res.type == "aws_dynamodb_table":
        return is_true(res.get("server_side_encryption.enabled"))
    return False


class LogRetention(Rule):
    """A log group has a retention period (the default keeps logs, and their cost, forever)."""

    id = "log-retention"
    summary = "a CloudWatch log group has a retention period"
    types = ("aws_cloudwatch_log_group",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        days = res.body.get("retention_in_days")
        return [] if days not in (None, 0) else ["no retention_in_days: logs are kept forever"]


RULES: tuple[Rule, ...] = (
    MultiAz(),
    NoLaunchConfiguration(),
    Imdsv2Only(),
    AsyncLambdaFailureDestination(),
    EventSourceFailureDestination(),
    SqsRedrive(),
    S3Encryption(),
    S3Versioning(),
    S3PublicAccessBlock(),
    S3TlsOnly(),
    EncryptedAtRest(),
    LogRetention(),
    NoOpenIngress(),
    PublicEndpointProtected(),
    ProdLoadBalancerDeletionProtection(),
    ProdStatefulProtected(),
    ProdNoForceDestroy(),
    ExperimentStopConditions(),
    ExperimentTargetsScoped(),
    ExperimentWithinFisLimits(),
)
