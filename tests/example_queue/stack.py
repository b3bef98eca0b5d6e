"""The example stack: composes blocks, maps its settings section to their props."""

from __future__ import annotations

from constructs import Construct

from modules.blocks.alarm_topic import AlarmTopic, AlarmTopicProps
from modules.blocks.kms_key import KmsKey, KmsKeyProps
from modules.blocks.queue import Queue, QueueProps
from modules.config import Settings
from modules.stack.base import BaseStack
from tests.example_queue.observability import observe
from tests.example_queue.settings import ExampleQueueSettings


class ExampleQueueStack(BaseStack):
    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        own = settings.section(ExampleQueueSettings)
        prefix = f"{settings.name_prefix}-example"
        key = KmsKey(self, "key", KmsKeyProps(alias=prefix, description="Encrypts the example queues"))
        dlq = Queue(self, "dlq", QueueProps(name=f"{prefix}-dlq", kms_key_arn=key.key.arn))
        Queue(
            self,
            "jobs",
            QueueProps(
                name=f"{prefix}-jobs",
                kms_key_arn=key.key.arn,
                dead_letter_queue_arn=dlq.queue.arn if own.dead_letter else None,
                max_receive_count=own.max_receive_count,
            ),
        )
        topic = AlarmTopic(self, "alarms", AlarmTopicProps(name=f"{prefix}-alarms", kms_key_arn=key.key.arn))
        observe(self, settings, prefix, topic_arn=topic.topic.arn, dlq_name=dlq.queue.name)
