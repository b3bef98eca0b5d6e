"""The ``stream-analytics`` stack: a Kinesis stream read by a spot fleet of stream workers.

The workers (``handlers/stream_worker/``) lease shards in DynamoDB, write per-record
anomaly scores to S3 exactly once, send poison records to an SQS FIFO DLQ and drain on a
spot interruption notice, a rebalance recommendation or SIGTERM. The fleet is an EC2 Spot
Fleet request or an Auto Scaling group with a mixed instances policy (``stream.fleet_kind``),
both from one launch template (:mod:`modules.blocks.instance_template`).
"""

from __future__ import annotations

from cdktf import TerraformOutput, Token
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.kinesis_stream import KinesisStream, KinesisStreamStreamModeDetails
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.spot_fleet_request import (
    SpotFleetRequest,
    SpotFleetRequestLaunchTemplateConfig,
    SpotFleetRequestLaunchTemplateConfigLaunchTemplateSpecification,
    SpotFleetRequestLaunchTemplateConfigOverrides,
    SpotFleetRequestSpotMaintenanceStrategies,
    SpotFleetRequestSpotMaintenanceStrategiesCapacityRebalance,
)
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from modules.architectures.stream_analytics.chaos import experiments
from modules.architectures.stream_analytics.observability import alert_routes, observe
from modules.architectures.stream_analytics.settings import StreamSettings
from modules.architectures.stream_analytics.worker_access import (
    RESULTS_PREFIX,
    SERVICE,
    WorkerResources,
    worker_environment,
    worker_statements,
)
from modules.blocks.caller_identity import caller_identity
from modules.blocks.fleet import Fleet, FleetProps
from modules.blocks.iam import assume_role_policy
from modules.blocks.instance_template import InstanceTemplate, InstanceTemplateProps
from modules.blocks.kms_key import KmsKey, KmsKeyProps, account_logs_arn, logs_use_statement, service_use_statement
from modules.blocks.network import https_egress
from modules.blocks.secure_bucket import SecureBucket, SecureBucketProps
from modules.config import Settings
from modules.core.paths import PROJECT_ROOT
from modules.patterns.account_limits import check_instance_types
from modules.patterns.chaos_experiments import add_chaos
from modules.patterns.network import network_stacks, stack_network
from modules.policy.check import waive
from modules.stack.base import BaseStack, store_teardown
from modules.stack.contract import depend_on

WORKER_DIR = PROJECT_ROOT / "handlers" / "stream_worker"
SHARD_LEVEL_METRICS = (
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "IteratorAgeMilliseconds",
    "ReadProvisionedThroughputExceeded",
    "WriteProvisionedThroughputExceeded",
)
# Settings names -> the Spot Fleet API's names (the ASG API uses the settings' form).
SPOT_FLEET_ALLOCATION = {
    "capacity-optimized": "capacityOptimized",
    "price-capacity-optimized": "priceCapacityOptimized",
}
SPOT_FLEET_TAGGING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2SpotFleetTaggingRole"


class StreamAnalyticsStack(BaseStack):
    """Kinesis stream + a spot fleet of stream workers that lose nothing when instances vanish.

    Fault tolerance: the stream keeps records ``retention_hours`` (>= 24 h), so a stopped
    fleet loses nothing; workers checkpoint per shard in DynamoDB (PITR on) and drain on
    spot interruption notices, rebalance recommendations and SIGTERM; the fleet is
    ``maintain`` with capacity rebalance, replaces unhealthy instances and spreads over
    several instance types in the private subnets of every AZ; poison records go to a DLQ;
    alarms on iterator age, throttling, DLQ depth and missing worker heartbeats; FIS experiments
    (spot interruptions, a worker terminated) stopped by iterator age and heartbeats.
    Security: one KMS key for stream, table, queue, buckets, logs and topic; workers in
    private subnets with no inbound rule, IMDSv2 only, and an IAM role limited to this
    stream, table, bucket prefix, queue, metric namespace and log group.
    """

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        cfg = settings.section(StreamSettings)
        prefix = f"{settings.name_prefix}-stream"
        account = caller_identity(self)
        self.key = KmsKey(
            self,
            "key",
            KmsKeyProps(
                alias=prefix,
                description=f"Encrypts the stream, leases, results, DLQ, logs and alerts of {prefix}",
                teardown=store_teardown(settings),
                extra_policy_statements=(
                    logs_use_statement(settings.region, account_logs_arn(settings.region, account.account_id)),
                    service_use_statement("CloudWatchAlarmsPublishToTopic", "cloudwatch.amazonaws.com"),
                    service_use_statement("EventBridgePublishesToTopic", "events.amazonaws.com"),
                ),
            ),
        )
        self.network = stack_network(self, settings, name=prefix, logs_kms_key_arn=self.key.arn)
        self.uses_stacks |= network_stacks(settings)
        provisioned = cfg.capacity_mode == "provisioned"
        self.stream = KinesisStream(
            self,
            "stream",
            name=prefix,
            stream_mode_details=KinesisStreamStreamModeDetails(stream_mode=cfg.capacity_mode.upper()),
            shard_count=cfg.shard_count if provisioned else None,
            retention_period=cfg.retention_hours,
            shard_level_metrics=list(SHARD_LEVEL_METRICS),
            encryption_type="KMS",
            kms_key_id=self.key.arn,
        )
        self.leases = DynamodbTable(
            self,
            "leases",
            name=f"{prefix}-leases",
            billing_mode="PAY_PER_REQUEST",
            hash_key="lease_key",
            attribute=[DynamodbTableAttribute(name="lease_key", type="S")],
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=self.key.arn),
        )
        bucket_suffix = f"{settings.region}"
        self.results = SecureBucket(
            self,
            "results",
            SecureBucketProps(
                bucket_name=f"{prefix}-results-{bucket_suffix}",
                kms_key_arn=self.key.arn,
                teardown=store_teardown(settings),
            ),
        )
        self.artifacts = SecureBucket(
            self,
            "artifacts",
            SecureBucketProps(
                bucket_name=f"{prefix}-artifacts-{bucket_suffix}",
                kms_key_arn=self.key.arn,
                teardown=store_teardown(settings, expendable=True),
            ),
        )
        self.dlq = SqsQueue(
            self,
            "dlq",
            # FIFO: the worker de-duplicates a poison record it sends again after a crash.
            name=f"{prefix}-dlq.fifo",
            fifo_queue=True,
            message_retention_seconds=cfg.dlq_retention_days * 86400,
            kms_master_key_id=self.key.arn,
            kms_data_key_reuse_period_seconds=300,
        )
        waive(
            self.dlq,
            "sqs-redrive",
            "this is the workers' dead-letter queue: they send poison records here (DLQ_URL) "
            "with their reason; nothing consumes it, so there is nothing to redrive, and its "
            "depth has an alarm",
        )
        waive(
            self.artifacts.bucket,
            "prod-stateful-protected",
            "holds only the worker artifact, uploaded again from handlers/ by every deploy",
        )
        self.protect_stores(self.stream, self.leases, self.dlq)
        self.log_group = CloudwatchLogGroup(
            self,
            "logs",
            name=f"/ec2/{prefix}/worker",
            retention_in_days=cfg.log_retention_days,
            kms_key_id=self.key.arn,
        )
        self.workers_sg = SecurityGroup(
            self,
            "workers-sg",
            name_prefix=f"{prefix}-workers-",
            description="Stream workers: no inbound; HTTPS out to AWS APIs",
            vpc_id=self.network.vpc_id,
            tags={"Name": f"{prefix}-workers"},
        )
        https_egress(
            self,
            "workers-https-out",
            self.workers_sg.id,
            "HTTPS out: Kinesis, DynamoDB, S3, SQS, CloudWatch, package repositories",
        )
        self.template = InstanceTemplate(
            self,
            "workers",
            InstanceTemplateProps(
                name=f"{prefix}-worker",
                service=SERVICE,
                artifact_dir=WORKER_DIR,
                artifact_bucket=self.artifacts.bucket.bucket,
                artifact_bucket_arn=self.artifacts.bucket.arn,
                packages=("python3.11", "python3.11-pip"),
                setup_command=(
                    f"python3.11 -m pip install --quiet --target /opt/{SERVICE}/vendor "
                    f"-r /opt/{SERVICE}/{WORKER_DIR.name}/requirements.txt"
                ),
                command="/usr/bin/python3.11 -m stream_worker",
                environment=worker_environment(
                    settings, prefix, results_bucket=self.results.bucket.bucket, dlq_url=self.dlq.url
                ),
                security_group_ids=[self.workers_sg.id],
                policy_statements=worker_statements(
                    WorkerResources(
                        stream_arn=self.stream.arn,
                        leases_arn=self.leases.arn,
                        results_bucket_arn=self.results.bucket.arn,
                        dlq_arn=self.dlq.arn,
                        key_arn=self.key.arn,
                        log_group_arn=self.log_group.arn,
                    )
                ),
                log_group_name=self.log_group.name,
            ),
            region=settings.region,
        )
        check_instance_types(
            self,
            settings,
            region=settings.region,
            instance_types=_instance_types(settings),
            types_setting="stream.instance_types",
        )
        # Alerts first: the worker group's instance refresh rolls back on their rollout guards.
        self._alerts(settings, prefix, account.account_id)
        self.fleet_id = self._spot_fleet(settings, prefix) if cfg.fleet_kind == "spot_fleet" else self._asg(prefix)
        self.chaos = add_chaos(
            self,
            settings,
            prefix=prefix,
            account_id=account.account_id,
            alarms=self.observability.alarms[prefix],
            experiments=experiments(settings, fleet_id=self.fleet_id),
            kms_key_arn=self.key.arn,
            log_retention_days=cfg.log_retention_days,
        )
        self._outputs()

    # --- workers --------------------------------------------------------------------------

    def _spot_fleet(self, settings: Settings, prefix: str) -> str:
        cfg = settings.section(StreamSettings)
        self.fleet_role = IamRole(
            self,
            "fleet-role",
            name_prefix="stream-spot-fleet-",
            assume_role_policy=assume_role_policy("spotfleet.amazonaws.com"),
        )
        tagging = IamRolePolicyAttachment(
            self, "fleet-role-tagging", role=self.fleet_role.name, policy_arn=SPOT_FLEET_TAGGING_POLICY
        )
        template = self.template.launch_template
        self.spot_fleet = SpotFleetRequest(
            self,
            "spot-fleet",
            iam_fleet_role=self.fleet_role.arn,
            fleet_type="maintain",  # replace every instance that is interrupted or fails
            target_capacity=cfg.target_capacity,
            on_demand_target_capacity=cfg.on_demand_count,
            allocation_strategy=SPOT_FLEET_ALLOCATION[cfg.allocation_strategy],
            instance_interruption_behaviour="terminate",
            replace_unhealthy_instances=True,
            spot_maintenance_strategies=SpotFleetRequestSpotMaintenanceStrategies(
                # Launch a replacement on a rebalance recommendation, before the notice.
                capacity_rebalance=SpotFleetRequestSpotMaintenanceStrategiesCapacityRebalance(
                    replacement_strategy="launch"
                )
            ),
            terminate_instances_with_expiration=True,
            terminate_instances_on_delete="true",
            excess_capacity_termination_policy="Default",
            wait_for_fulfillment=False,
            launch_template_config=[
                SpotFleetRequestLaunchTemplateConfig(
                    launch_template_specification=SpotFleetRequestLaunchTemplateConfigLaunchTemplateSpecification(
                        id=template.id, version=Token.as_string(template.latest_version)
                    ),
                    overrides=[
                        SpotFleetRequestLaunchTemplateConfigOverrides(instance_type=itype, subnet_id=subnet)
                        for subnet in self.network.private_subnet_ids
                        for itype in _instance_types(settings)
                    ],
                )
            ],
            tags={"Name": f"{prefix}-workers"},
            depends_on=[tagging],
        )
        return self.spot_fleet.id

    def _asg(self, prefix: str) -> str:
        cfg = self.settings.section(StreamSettings)
        self.fleet = Fleet(
            self,
            "fleet",
            FleetProps(
                name=f"{prefix}-workers",
                subnet_ids=self.network.private_subnet_ids,
                instance_types=_instance_types(self.settings),
                # No load balancer: an instance is healthy while EC2 says so; the worker's
                # own heartbeat alarm covers a hung process.
                health_check_type="EC2",
                min_size=cfg.target_capacity,
                desired_capacity=cfg.target_capacity,
                # Headroom for capacity rebalancing, which launches before it terminates.
                max_size=cfg.target_capacity * 2,
                health_check_grace_s=300,
                warmup_s=180,
                on_demand_base=cfg.on_demand_count,
                on_demand_percent_above_base=0,
                spot_allocation=cfg.allocation_strategy,
                cpu_target_percent=None,  # the shard count, not CPU, sets how many workers help
                refresh_checkpoints=self.settings.fleet.refresh_checkpoints,
                refresh_bake_s=self.settings.fleet.refresh_bake_s,
                # New workers that stop heartbeating or fall behind undo the refresh.
                rollback_alarm_names=self.observability.guard_names(prefix),
            ),
            launch_template=self.template.launch_template,
        )
        depend_on(self.fleet.group, self.observability.alarms_named(self.fleet.props.rollback_alarm_names))
        return self.fleet.name

    # --- visibility ---------------------------------------------------------------------------

    def _alerts(self, settings: Settings, prefix: str, account_id: str) -> None:
        routes = alert_routes(self, settings, prefix, account_id, key_arn=self.key.arn)
        self.topic = self.alarm_topic = routes.topic
        self.event_dlq = routes.event_dlq
        self.observability = observe(
            self, settings, prefix, routes=routes, stream=self.stream, leases=self.leases, dlq=self.dlq
        )

    def _outputs(self) -> None:
        outputs = {
            "stream_name": (self.stream.name, "Kinesis stream the workers read"),
            "stream_arn": (self.stream.arn, "ARN of the stream (grant producers kinesis:PutRecord(s) on it)"),
            "lease_table_name": (self.leases.name, "DynamoDB table of shard leases and checkpoints"),
            "results_bucket_name": (
                self.results.bucket.bucket,
                f"S3 bucket of worker results (under {RESULTS_PREFIX})",
            ),
            "dlq_url": (self.dlq.url, "SQS FIFO queue of poison records (shard id, sequence number, reason)"),
            "event_dlq_url": (
                self.event_dlq.url,
                "SQS queue of spot events EventBridge could not deliver, with the reason",
            ),
            "fleet_id": (self.fleet_id, f"{self.settings.section(StreamSettings).fleet_kind} running the workers"),
            "alarm_topic_arn": (self.topic.arn, "SNS topic of alarms and spot interruption/rebalance events"),
            # The name before every stack's topic output was alarm_topic_arn: kept for one release.
            "alerts_topic_arn": (self.topic.arn, "deprecated: the same as alarm_topic_arn (removed next release)"),
            "launch_template_id": (self.template.launch_template.id, "launch template of the worker instances"),
        }
        for key, (value, description) in outputs.items():
            TerraformOutput(self, key, value=value, description=description)


def _instance_types(settings: Settings) -> list[str]:
    return list(settings.section(StreamSettings).instance_types)
