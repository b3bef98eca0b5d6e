"""The example stack: composes blocks and patterns, maps its settings section to their props."""

from __future__ import annotations

from constructs import Construct

from modules.blocks.alarm_topic import AlarmTopic, AlarmTopicProps
from modules.blocks.caller_identity import caller_identity
from modules.blocks.kms_key import KmsKey, KmsKeyProps, account_logs_arn, logs_use_statement, service_use_statement
from modules.blocks.queue import Queue, QueueProps
from modules.config import Settings
from modules.patterns.chaos_experiments import add_chaos
from modules.patterns.network import network_stacks, stack_network
from modules.stack.base import BaseStack
from tests.example_queue.chaos import experiments
from tests.example_queue.observability import observe
from tests.example_queue.settings import ExampleQueueSettings


class ExampleQueueStack(BaseStack):
    def __init__(self, scope: Construct, name: str, settings: Settings) -> None:
        super().__init__(scope, name, settings=settings)
        own = settings.section(ExampleQueueSettings)
        prefix = f"{settings.name_prefix}-example"
        account = caller_identity(self)
        key = KmsKey(
            self,
            "key",
            KmsKeyProps(
                alias=prefix,
                description="Encrypts the example queues, alarms and experiment logs",
                extra_policy_statements=(
                    logs_use_statement(settings.region, account_logs_arn(settings.region, account.account_id)),
                    service_use_statement("CloudWatchAlarmsPublishToTopic", "cloudwatch.amazonaws.com"),
                ),
            ),
        )
        # The consumers' network (none run here: the experiment shows a stack adding one).
        network = stack_network(self, settings, name=prefix, logs_kms_key_arn=key.arn)
        self.uses_stacks |= network_stacks(settings)
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
        self.alarm_topic = AlarmTopic(
            self, "alarms", AlarmTopicProps(name=f"{prefix}-alarms", kms_key_arn=key.key.arn)
        ).handle
        self.observability = observe(self, settings, prefix, topic_arn=self.alarm_topic.arn, dlq_name=dlq.queue.name)
        self.chaos = add_chaos(
            self,
            settings,
            prefix=prefix,
            account_id=account.account_id,
            alarms=self.observability.alarms[prefix],
            experiments=experiments(settings, network=network, account_id=account.account_id),
            kms_key_arn=key.arn,
            log_retention_days=365,
            vpc_id=network.vpc_id,
        )
