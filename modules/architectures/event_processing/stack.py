"""The ``event-processing`` stack: new S3 objects under ``data/`` processed by a Lambda,
nothing lost.

Settings (``[event_processing]``) are mapped to block props here and nowhere else.
Delivery ``queue`` (default): S3 -> SQS -> Lambda event source mapping reporting
partial batch failures; ``direct``: S3 invokes the Lambda asynchronously, with bounded
retries, a maximum event age and an on-failure DLQ. Both share the bucket, the
function, the DLQ, the alarms and the dashboard.
"""

from __future__ import annotations

from typing import Any

from cdktf import TerraformOutput
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import (
    LambdaEventSourceMapping,
    LambdaEventSourceMappingScalingConfig,
)
from cdktf_cdktf_provider_aws.lambda_function_event_invoke_config import (
    LambdaFunctionEventInvokeConfig,
    LambdaFunctionEventInvokeConfigDestinationConfig,
    LambdaFunctionEventInvokeConfigDestinationConfigOnFailure,
)
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.s3_bucket_notification import (
    S3BucketNotification,
    S3BucketNotificationLambdaFunction,
    S3BucketNotificationQueue,
)
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from constructs import Construct

from modules.architectures.event_processing.observability import observe
from modules.architectures.event_processing.settings import EventProcessingSettings
from modules.blocks.caller_identity import caller_identity
from modules.blocks.iam import allow, policy_document
from modules.blocks.kms_key import KmsKey, KmsKeyProps, logs_use_statement
from modules.blocks.lambda_canary import LambdaCanary, LambdaCanaryProps
from modules.blocks.python_function import PythonFunction, PythonFunctionProps
from modules.blocks.queue import Queue, QueueProps
from modules.blocks.secure_bucket import SecureBucket, SecureBucketProps
from modules.config import Settings
from modules.core.paths import PROJECT_ROOT
from modules.patterns.account_limits import check_lambda_concurrency
from modules.patterns.alarm_routing import stack_alarm_topic
from modules.stack.base import BaseStack, store_teardown

HANDLER_DIR = PROJECT_ROOT / "handlers" / "event_processor"
# AWS's advice for SQS event sources: six times the function timeout, so a message is
# not redelivered while a slow (or throttled and retried) invocation still holds it.
VISIBILITY_TIMEOUT_FACTOR = 6


class EventProcessingStack(BaseStack):
    """Data bucket (versioned, SSE-KMS, TLS-only, access-logged), the processing
    function, its delivery (queue or direct), a DLQ, alarms to an encrypted topic, and
    a dashboard."""

    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        ep = settings.section(EventProcessingSettings)
        prefix = f"{settings.name_prefix}-events"
        account = caller_identity(self)
        partition = DataAwsPartition(self, "partition").partition
        account_id = account.account_id
        bucket_arn = f"arn:{partition}:s3:::{ep.bucket}"
        log_bucket_name = f"{ep.bucket}-logs"
        function_name = f"{prefix}-processor"

        self.key = KmsKey(
            self,
            "key",
            KmsKeyProps(
                alias=prefix,
                description=f"Encrypts data, queues, logs and alarms of {prefix}",
                teardown=store_teardown(settings),
                extra_policy_statements=_service_grants(settings, partition, account_id, bucket_arn, function_name),
            ),
        )
        self.log_bucket = SecureBucket(
            self,
            "access-logs",
            SecureBucketProps(
                bucket_name=log_bucket_name,
                kms_key_arn=None,  # S3 delivers server access logs only to SSE-S3 buckets
                teardown=store_teardown(settings),
                extra_policy_statements=[_log_delivery_statement(partition, log_bucket_name, bucket_arn, account_id)],
            ),
        )
        self.data = SecureBucket(
            self,
            "data",
            SecureBucketProps(
                bucket_name=ep.bucket,
                kms_key_arn=self.key.arn,
                # The policy's bucket, not the bucket's: S3 refuses a logging target
                # until its policy lets the logging service write.
                access_log_bucket=self.log_bucket.policy.bucket,
                access_log_prefix=f"{ep.bucket}/",
                teardown=store_teardown(settings),
            ),
        )
        self.dlq = Queue(
            self,
            "dlq",
            QueueProps(
                name=f"{prefix}-dlq",
                kms_key_arn=self.key.arn,
                retention_s=ep.dlq_retention_days * 24 * 3600,
            ),
        )
        self.queue: Queue | None = None
        if ep.delivery == "queue":
            self.queue = Queue(
                self,
                "queue",
                QueueProps(
                    name=f"{prefix}-queue",
                    kms_key_arn=self.key.arn,
                    visibility_timeout_s=VISIBILITY_TIMEOUT_FACTOR * ep.function_timeout_s,
                    dead_letter_queue_arn=self.dlq.arn,
                    max_receive_count=ep.max_receive_count,
                ),
            )

        self.protect_stores(self.dlq.queue, *([self.queue.queue] if self.queue else []))
        check_lambda_concurrency(self, settings)  # the plan fails if the account cannot reserve it
        self.function = PythonFunction(
            self,
            "processor",
            PythonFunctionProps(
                name=function_name,
                code_dir=HANDLER_DIR,
                kms_key_arn=self.key.arn,
                account_id=account_id,
                partition=partition,
                region=settings.region,
                memory_mib=ep.function_memory_mib,
                timeout_s=ep.function_timeout_s,
                ephemeral_storage_mib=ep.ephemeral_storage_mib,
                reserved_concurrency=ep.reserved_concurrency,
                publish=True,  # a version per change: CodeDeploy shifts the live alias to it
                log_retention_days=ep.log_retention_days,
                environment={
                    "DATA_BUCKET": ep.bucket,
                    "DATA_PREFIX": ep.data_prefix,
                    "RESULTS_PREFIX": ep.results_prefix,
                    "QUARANTINE_PREFIX": ep.quarantine_prefix,
                    "MAX_OBJECT_BYTES": str(ep.max_object_mib << 20),
                    "MAX_RECORD_BYTES": str(ep.max_record_kib << 10),
                    "KINESIS_STREAM_ARN": ep.kinesis_stream_arn,
                },
                policy_statements=self._function_statements(bucket_arn),
            ),
        )
        self.topic = stack_alarm_topic(self, settings, name=f"{prefix}-alarms", kms_key_arn=self.key.arn)
        self.observability = observe(
            self,
            settings,
            prefix,
            topic_arn=self.topic.arn,
            function_name=self.function.function.function_name,
            dlq_name=self.dlq.queue.name,
            queue_name=self.queue.queue.name if self.queue else None,
        )
        self.alarm_topic = self.topic
        # Triggers invoke the live alias; a new version reaches it only through a canary
        # that the error alarm stops and rolls back.
        self.canary = LambdaCanary(
            self,
            "canary",
            LambdaCanaryProps(
                name=function_name,
                region=settings.region,
                deployment_config_name=ep.deployment_config,
                alarm_names=self.observability.guard_references(prefix),
            ),
            function=self.function.function,
        )
        self._deliver(bucket_arn, account_id)
        self._outputs()

    def _function_statements(self, bucket_arn: str) -> list[dict[str, Any]]:
        ep = self.settings.section(EventProcessingSettings)
        statements: list[dict[str, Any]] = [
            allow("ReadInput", "s3:GetObject", f"{bucket_arn}/{ep.data_prefix}*"),
            # Without ListBucket, S3 answers a deleted object with 403, not 404: the
            # handler could not tell "deleted" (quarantine) from "denied" (retry).
            # It reveals key names only, never content.
            allow("TellMissingFromDenied", "s3:ListBucket", bucket_arn),
            allow(
                "WriteResultsAndRejects",
                "s3:PutObject",
                [f"{bucket_arn}/{ep.results_prefix}*", f"{bucket_arn}/{ep.quarantine_prefix}*"],
            ),
            allow("UseDataKey", ["kms:Decrypt", "kms:GenerateDataKey"], self.key.arn),
        ]
        if self.queue is not None:
            # Not allow(): Resource before Action, as deployed; allow()'s key order would
            # change the synthesized policy string.
            statements.append(
                {
                    "Sid": "ConsumeQueue",
                    "Effect": "Allow",
                    "Resource": self.queue.arn,
                    "Action": [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:GetQueueAttributes",
                        "sqs:ChangeMessageVisibility",
                    ],
                }
            )
        else:
            # Lambda delivers failed async events to the destination with the function's role.
            statements.append(allow("SendToDlq", "sqs:SendMessage", self.dlq.arn))
        if ep.kinesis_stream_arn:
            statements.append(
                allow(
                    "PutResultsOnStream",
                    ["kinesis:PutRecord", "kinesis:PutRecords", "kinesis:DescribeStreamSummary"],
                    ep.kinesis_stream_arn,
                )
            )
        if ep.kinesis_kms_key_arn:
            statements.append(allow("EncryptForStream", "kms:GenerateDataKey", ep.kinesis_kms_key_arn))
        return statements

    def _deliver(self, bucket_arn: str, account_id: str) -> None:
        ep = self.settings.section(EventProcessingSettings)
        events = ["s3:ObjectCreated:*"]
        bucket_id = self.data.bucket.id
        if self.queue is not None:
            policy = SqsQueuePolicy(
                self,
                "queue-policy",
                queue_url=self.queue.queue.url,
                policy=policy_document(
                    allow(
                        "OnlyThisBucketSends",
                        "sqs:SendMessage",
                        self.queue.arn,
                        principal={"Service": "s3.amazonaws.com"},
                        condition={
                            "ArnEquals": {"aws:SourceArn": bucket_arn},
                            "StringEquals": {"aws:SourceAccount": account_id},
                        },
                    )
                ),
            )
            S3BucketNotification(
                self,
                "notification",
                bucket=bucket_id,
                queue=[
                    S3BucketNotificationQueue(
                        queue_arn=self.queue.arn,
                        events=events,
                        filter_prefix=ep.data_prefix,
                        filter_suffix=ep.input_suffix,
                    )
                ],
                depends_on=[policy],  # S3 test-sends to the queue when the notification is created
            )
            self.event_source = LambdaEventSourceMapping(
                self,
                "event-source",
                event_source_arn=self.queue.arn,
                function_name=self.canary.arn,
                batch_size=ep.batch_size,
                maximum_batching_window_in_seconds=ep.batch_window_s,
                function_response_types=["ReportBatchItemFailures"],
                # Pollers never exceed the reserved concurrency: no throttled receives
                # that would count towards maxReceiveCount and dead-letter good messages.
                scaling_config=LambdaEventSourceMappingScalingConfig(maximum_concurrency=ep.reserved_concurrency),
            )
            return
        LambdaFunctionEventInvokeConfig(
            self,
            "async",
            function_name=self.function.function.function_name,
            qualifier=self.canary.alias.name,  # S3 invokes the alias: its config applies
            maximum_retry_attempts=ep.max_retries,
            maximum_event_age_in_seconds=ep.max_event_age_s,
            destination_config=LambdaFunctionEventInvokeConfigDestinationConfig(
                on_failure=LambdaFunctionEventInvokeConfigDestinationConfigOnFailure(destination=self.dlq.arn)
            ),
        )
        permission = LambdaPermission(
            self,
            "s3-invoke",
            statement_id="AllowDataBucket",
            action="lambda:InvokeFunction",
            function_name=self.function.function.function_name,
            qualifier=self.canary.alias.name,
            principal="s3.amazonaws.com",
            source_arn=bucket_arn,
            source_account=account_id,  # bucket ARNs carry no account: pin it
        )
        S3BucketNotification(
            self,
            "notification",
            bucket=bucket_id,
            lambda_function=[
                S3BucketNotificationLambdaFunction(
                    lambda_function_arn=self.canary.arn,
                    events=events,
                    filter_prefix=ep.data_prefix,
                    filter_suffix=ep.input_suffix,
                )
            ],
            depends_on=[permission],
        )

    def _outputs(self) -> None:
        TerraformOutput(
            self,
            "data_bucket_name",
            value=self.data.bucket.bucket,
            description="S3 bucket: inputs under the data prefix, results and quarantine beside them",
        )
        TerraformOutput(
            self,
            "function_name",
            value=self.function.function.function_name,
            description="Lambda function processing each new input object",
        )
        TerraformOutput(
            self,
            "dlq_url",
            value=self.dlq.queue.url,
            description="dead-letter queue: events or messages that failed every retry",
        )
        TerraformOutput(self, "alarm_topic_arn", value=self.topic.arn, description="SNS topic the alarms notify")
        TerraformOutput(
            self,
            "live_alias_arn",
            value=self.canary.arn,
            description="alias every trigger invokes; CodeDeploy moves it to each new version",
        )
        if self.queue is not None:
            TerraformOutput(
                self,
                "queue_url",
                value=self.queue.queue.url,
                description="SQS queue between the bucket and the function (queue delivery)",
            )


def _service_grants(
    settings: Settings, partition: str, account_id: str, bucket_arn: str, function_name: str
) -> list[dict[str, Any]]:
    """Key policy grants for the AWS services that encrypt with the stack's key."""
    logs_arn = f"arn:{partition}:logs:{settings.region}:{account_id}:log-group:/aws/lambda/{function_name}"
    return [
        logs_use_statement(settings.region, logs_arn, sid="CloudWatchLogsEncryptsOwnLogGroup", match="ArnEquals"),
        allow(
            "S3NotifiesEncryptedQueue",
            ["kms:GenerateDataKey", "kms:Decrypt"],
            "*",
            principal={"Service": "s3.amazonaws.com"},
            condition={
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnEquals": {"aws:SourceArn": bucket_arn},
            },
        ),
        allow(
            "CloudWatchAlarmsPublishToEncryptedTopic",
            ["kms:GenerateDataKey*", "kms:Decrypt"],
            "*",
            principal={"Service": "cloudwatch.amazonaws.com"},
            condition={"StringEquals": {"aws:SourceAccount": account_id}},
        ),
    ]


def _log_delivery_statement(partition: str, log_bucket: str, source_bucket_arn: str, account_id: str) -> dict[str, Any]:
    return allow(
        "S3ServerAccessLogDelivery",
        "s3:PutObject",
        f"arn:{partition}:s3:::{log_bucket}/*",
        principal={"Service": "logging.s3.amazonaws.com"},
        condition={
            "ArnLike": {"aws:SourceArn": source_bucket_arn},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    )
