"""``[event_processing]``: the `event-processing` stack (S3 `data/*.json` objects processed by a Lambda)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from modules.config.checks import DataBucketName, Int, Prefix, Section, Str, Suffix, arn, between, refuse
from modules.core.input_rules import LambdaEphemeralStorageMib, LambdaMemoryMib, LogRetentionDays, MaxReceiveCount

Delivery = Literal["queue", "direct"]
# CodeDeploy's predefined Lambda configurations (modules/blocks/lambda_canary.py has their numbers).
DeploymentConfig = Literal[
    "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    "CodeDeployDefault.LambdaCanary10Percent10Minutes",
    "CodeDeployDefault.LambdaCanary10Percent15Minutes",
    "CodeDeployDefault.LambdaCanary10Percent30Minutes",
    "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
    "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
    "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
    "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
    "CodeDeployDefault.LambdaAllAtOnce",
]


class EventProcessingSettings(Section):
    """The `event-processing` stack: S3 `data/*.json` objects processed by a Lambda."""

    bucket: DataBucketName = Field(
        default="",
        description="data bucket; globally unique, <= 58 characters (access logs go to `<bucket>-logs`). "
        "Default: `<project>-<environment>-events-<region>`",
        json_schema_extra={"derived": True},
    )
    delivery: Delivery = Field(
        default="queue",
        description="`queue`: S3 -> SQS -> Lambda (buffered, partial batch failures, redrive); "
        "`direct`: S3 invokes the Lambda asynchronously (retries, then an on-failure DLQ)",
    )
    data_prefix: Prefix = Field(default="data/", description="input key prefix")
    results_prefix: Prefix = Field(
        default="results/", description="results are written to `<results_prefix><input key>`"
    )
    quarantine_prefix: Prefix = Field(
        default="quarantine/", description="rejects: `<quarantine_prefix><input key>.error.json`"
    )
    input_suffix: Suffix = Field(default=".json", description="only keys ending in this trigger processing")
    function_memory_mib: LambdaMemoryMib = Field(default=1024, description="Lambda memory")
    function_timeout_s: Annotated[Int, between(10, 900, "seconds")] = Field(default=300, description="Lambda timeout")
    ephemeral_storage_mib: LambdaEphemeralStorageMib = Field(
        default=2048, description="Lambda /tmp, where results wait before upload"
    )
    reserved_concurrency: Annotated[Int, between(2, 1000)] = Field(
        default=10, description="Lambda reserved concurrency (also the queue poller's maximum)"
    )
    log_retention_days: LogRetentionDays = Field(default=365, description="Lambda log retention")
    max_object_mib: Annotated[Int, between(1, 10240, "MiB")] = Field(
        default=256, description="larger objects are quarantined unread"
    )
    max_record_kib: Annotated[Int, between(1, 65536, "KiB")] = Field(
        default=1024, description="longest JSON Lines line, and largest single JSON document (bounds memory)"
    )
    max_retries: Annotated[Int, between(0, 2)] = Field(
        default=2, description="`direct`: async invocation retries before the DLQ"
    )
    max_event_age_s: Annotated[Int, between(60, 21600, "seconds")] = Field(
        default=3600, description="`direct`: events older than this go to the DLQ"
    )
    batch_size: Annotated[Int, between(1, 10000)] = Field(default=10, description="`queue`: messages per invocation")
    batch_window_s: Annotated[Int, between(0, 300, "seconds")] = Field(
        default=5, description="`queue`: longest wait to fill a batch"
    )
    max_receive_count: MaxReceiveCount = Field(
        default=5, description="`queue`: receives before a message moves to the DLQ"
    )
    dlq_retention_days: Annotated[Int, between(1, 14, "days")] = Field(
        default=14, description="dead-letter queue retention"
    )
    deployment_config: DeploymentConfig = Field(
        default="CodeDeployDefault.LambdaCanary10Percent5Minutes",
        description="how CodeDeploy shifts the `live` alias to a new version (the error alarm rolls it back)",
    )
    kinesis_stream_arn: Annotated[Str, arn("kinesis")] = Field(
        default="", description="also put every result on this Kinesis stream; empty = off"
    )
    kinesis_kms_key_arn: Annotated[Str, arn("kms")] = Field(
        default="", description="KMS key of that stream, if it has a customer key; empty = none"
    )

    def with_derived_names(self, name_prefix: str, region: str) -> EventProcessingSettings:
        if "bucket" in self.model_fields_set:
            return self
        return self.model_copy(update={"bucket": f"{name_prefix}-events-{region}"})

    @model_validator(mode="after")
    def _across_fields(self) -> EventProcessingSettings:
        out = []
        prefixes = {
            "data_prefix": self.data_prefix,
            "results_prefix": self.results_prefix,
            "quarantine_prefix": self.quarantine_prefix,
        }
        for a, pa in prefixes.items():
            for b, pb in prefixes.items():
                if a < b and (pa.startswith(pb) or pb.startswith(pa)):
                    out.append(
                        f"event_processing.{a} = {pa!r}, event_processing.{b} = {pb!r}: must not overlap "
                        "(an output under the input prefix would trigger itself forever)"
                    )
        if self.kinesis_kms_key_arn and not self.kinesis_stream_arn:
            out.append("event_processing.kinesis_kms_key_arn: set only together with kinesis_stream_arn")
        if self.batch_size > 10 and self.batch_window_s == 0:
            out.append(
                f"event_processing.batch_size = {self.batch_size}: more than 10 needs batch_window_s >= 1 (an SQS rule)"
            )
        refuse(out)
        return self
