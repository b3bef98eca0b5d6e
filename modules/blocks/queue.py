"""An SQS queue, encrypted with a customer key, optionally redriving to a DLQ."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from modules.core.input_rules import KmsKeyArn, MaxReceiveCount
from modules.core.props_check import field_problems

MAX_RETENTION_S = 14 * 24 * 3600


@dataclass(frozen=True, kw_only=True)
class QueueProps:
    name: str
    kms_key_arn: KmsKeyArn
    visibility_timeout_s: int = 60  # > the consumer's timeout, or a message is delivered twice at once
    retention_s: int = MAX_RETENTION_S  # the longest SQS allows: time to notice and redrive
    dead_letter_queue_arn: str | None = None  # None: this queue is itself a DLQ (or needs none)
    max_receive_count: MaxReceiveCount = 5  # then the message moves to the DLQ

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if not 0 <= self.visibility_timeout_s <= 43200:
            problems.append(f"visibility_timeout_s={self.visibility_timeout_s}: must be 0-43200")
        if not 60 <= self.retention_s <= MAX_RETENTION_S:
            problems.append(f"retention_s={self.retention_s}: must be 60-{MAX_RETENTION_S}")
        if problems:
            raise ValueError("QueueProps: " + "; ".join(problems))


class Queue(Construct):
    """An SQS standard queue.

    Defaults that matter: SSE-KMS with the given customer key (data keys reused for 5
    minutes, fewer KMS calls); 14-day retention; with a DLQ, a message received
    ``max_receive_count`` times moves there instead of being retried forever.
    """

    def __init__(self, scope: Construct, id: str, props: QueueProps) -> None:
        super().__init__(scope, id)
        redrive = (
            None
            if props.dead_letter_queue_arn is None
            else json.dumps(
                {"deadLetterTargetArn": props.dead_letter_queue_arn, "maxReceiveCount": props.max_receive_count}
            )
        )
        self.queue = SqsQueue(
            self,
            "queue",
            name=props.name,
            kms_master_key_id=props.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            visibility_timeout_seconds=props.visibility_timeout_s,
            message_retention_seconds=props.retention_s,
            redrive_policy=redrive,
        )

    @property
    def arn(self) -> str:
        return self.queue.arn
