"""Every resource type the stacks synthesize: priced (a rule), usage-only, or free.

A type missing here stops ``make cost`` and fails ``tests/test_cost.py``: a new resource is
never silently free. Add it with a rule (``tools/cost/rules.py``) when it costs something
while idle; with its usage prices (keys of ``[usage]`` in ``prices.toml``) when it costs only
what is used; with a note saying why when it costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tools.cost import rules
from tools.cost.rules import Rule, one


@dataclass(frozen=True, kw_only=True)
class Kind:
    rule: Rule | None = None  # its fixed charges
    usage: tuple[str, ...] = ()  # keys of [usage]: what it costs when used
    note: str = ""  # what is counted, or why nothing is

    @property
    def category(self) -> str:
        return "priced" if self.rule else "usage-only" if self.usage else "free"


FREE = "no charge"
_S3_CONFIG = Kind(note="configuration of a bucket: no charge (what it keeps is S3 storage)")
_IAM = Kind(note="IAM: no charge")
_NETWORK = Kind(note="VPC plumbing: no charge")

KINDS: Mapping[str, Kind] = {
    # networking
    "aws_nat_gateway": Kind(rule=one("NAT gateway", "nat_gateway"), usage=("nat_gateway_data",)),
    "aws_eip": Kind(rule=one("public IPv4 address", "public_ipv4"), note="charged in use or idle"),
    "aws_lb": Kind(
        rule=rules.load_balancer,
        usage=("alb_lcu", "inter_az_data"),
        note="fixed hour; an internet-facing one also one public IPv4 address per subnet",
    ),
    "aws_vpc_endpoint": Kind(
        rule=rules.vpc_endpoint,
        usage=("interface_endpoint_data",),
        note="interface: per AZ-hour; gateway (S3, DynamoDB): free",
    ),
    "aws_vpc": _NETWORK,
    "aws_subnet": _NETWORK,
    "aws_route": _NETWORK,
    "aws_route_table": _NETWORK,
    "aws_route_table_association": _NETWORK,
    "aws_internet_gateway": Kind(usage=("internet_data_out",)),
    "aws_security_group": _NETWORK,
    "aws_default_security_group": _NETWORK,
    "aws_vpc_security_group_ingress_rule": _NETWORK,
    "aws_vpc_security_group_egress_rule": _NETWORK,
    "aws_flow_log": Kind(usage=("vended_logs_ingest",), note="billed as vended logs into its log group"),
    "aws_lb_listener": Kind(note="part of the load balancer's price"),
    "aws_lb_target_group": Kind(note="part of the load balancer's price"),
    # compute
    "aws_ecs_service": Kind(rule=rules.ecs_service, note="desired_count tasks x the task's vCPU and GB"),
    "aws_ecs_task_definition": Kind(note="priced through the service that runs it"),
    "aws_ecs_cluster": Kind(usage=("custom_metrics", "logs_ingest"), note="Container Insights: metrics and logs"),
    "aws_ecs_cluster_capacity_providers": Kind(note=FREE),
    "aws_autoscaling_group": Kind(
        rule=rules.autoscaling_group, note="desired (else min) instances, with their EBS volumes and monitoring"
    ),
    "aws_spot_fleet_request": Kind(rule=rules.spot_fleet, note="target capacity, with EBS volumes and monitoring"),
    "aws_launch_template": Kind(note="priced through the group or fleet that launches it"),
    "aws_autoscaling_lifecycle_hook": Kind(note=FREE),
    "aws_autoscaling_policy": Kind(note=FREE),
    "aws_appautoscaling_target": Kind(note=FREE),
    "aws_appautoscaling_policy": Kind(note=FREE),
    "aws_iam_instance_profile": _IAM,
    "aws_iam_role": _IAM,
    "aws_iam_role_policy": _IAM,
    "aws_iam_role_policy_attachment": _IAM,
    "aws_lambda_function": Kind(
        usage=("lambda_gb_s_arm", "lambda_gb_s_x86", "lambda_requests"),
        note="reserved concurrency is free; no provisioned concurrency",
    ),
    "aws_lambda_alias": Kind(note=FREE),
    "aws_lambda_permission": Kind(note=FREE),
    "aws_lambda_function_event_invoke_config": Kind(note=FREE),
    "aws_lambda_event_source_mapping": Kind(note="free: its polling is billed as SQS requests"),
    "aws_codedeploy_app": Kind(note="CodeDeploy to Lambda: no charge"),
    "aws_codedeploy_deployment_group": Kind(note="CodeDeploy to Lambda: no charge"),
    "aws_ecr_repository": Kind(usage=("ecr_storage",)),
    "aws_ecr_lifecycle_policy": Kind(note=FREE),
    "terraform_data": Kind(note="not an AWS resource: runs on the deploying machine"),
    # data and security
    "aws_kms_key": Kind(rule=one("KMS key", "kms_key"), usage=("kms_requests",)),
    "aws_kms_alias": Kind(note=FREE),
    "aws_secretsmanager_secret": Kind(rule=rules.secret, usage=("secret_api_calls",)),
    "aws_ssm_parameter": Kind(rule=rules.ssm_parameter, note="standard tier: free; advanced: per month"),
    "aws_kinesis_stream": Kind(
        rule=rules.kinesis_stream,
        usage=("kinesis_on_demand_ingest", "kinesis_on_demand_retrieval", "kinesis_put_units", "kinesis_shard_metrics"),
    ),
    "aws_dynamodb_table": Kind(
        rule=rules.dynamodb_table,
        usage=("dynamodb_writes", "dynamodb_reads", "dynamodb_storage", "dynamodb_pitr"),
        note="on-demand: usage only; provisioned: capacity units per hour",
    ),
    "aws_s3_bucket": Kind(usage=("s3_storage", "s3_put", "s3_get")),
    "aws_s3_object": Kind(usage=("s3_storage",)),
    "aws_s3_bucket_lifecycle_configuration": _S3_CONFIG,
    "aws_s3_bucket_logging": _S3_CONFIG,
    "aws_s3_bucket_notification": _S3_CONFIG,
    "aws_s3_bucket_ownership_controls": _S3_CONFIG,
    "aws_s3_bucket_policy": _S3_CONFIG,
    "aws_s3_bucket_public_access_block": _S3_CONFIG,
    "aws_s3_bucket_server_side_encryption_configuration": _S3_CONFIG,
    "aws_s3_bucket_versioning": _S3_CONFIG,
    "aws_sqs_queue": Kind(usage=("sqs_requests",)),
    "aws_sqs_queue_policy": Kind(note=FREE),
    "aws_sns_topic": Kind(usage=("sns_publishes", "sns_email")),
    "aws_sns_topic_policy": Kind(note=FREE),
    "aws_sns_topic_subscription": Kind(usage=("sns_email",)),
    # observability and scheduling
    "aws_cloudwatch_metric_alarm": Kind(rule=rules.alarm, note="per metric it evaluates (metric math: each metric)"),
    "aws_cloudwatch_composite_alarm": Kind(rule=one("CloudWatch composite alarm", "composite_alarm")),
    "aws_cloudwatch_dashboard": Kind(rule=one("CloudWatch dashboard", "dashboard"), note="free tier (3) not counted"),
    "aws_cloudwatch_log_group": Kind(usage=("logs_ingest", "logs_storage")),
    "aws_cloudwatch_event_rule": Kind(usage=("eventbridge_custom_events",)),
    "aws_cloudwatch_event_target": Kind(note=FREE),
    "aws_scheduler_schedule": Kind(usage=("scheduler_invocations",)),
    "aws_fis_experiment_template": Kind(usage=("fis_action_minutes",), note="free until an experiment runs"),
    # edge
    "aws_wafv2_web_acl": Kind(rule=rules.web_acl, usage=("waf_requests",), note="per ACL and per rule"),
    "aws_wafv2_web_acl_association": Kind(note=FREE),
    "aws_wafv2_web_acl_logging_configuration": Kind(usage=("vended_logs_ingest",)),
    "aws_route53_zone": Kind(rule=one("Route 53 hosted zone", "route53_zone"), usage=("route53_queries",)),
    "aws_route53_health_check": Kind(rule=rules.health_check, note="base price plus each option"),
    "aws_route53_record": Kind(usage=("route53_queries",)),
}
