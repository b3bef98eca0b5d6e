"""One region of the `network` stack: the VPC, the key of its flow logs and alarms, the alarm topic."""

from __future__ import annotations

from constructs import Construct

from modules.blocks.caller_identity import caller_identity
from modules.blocks.kms_key import KmsKey, KmsKeyProps, account_logs_arn, logs_use_statement, service_use_statement
from modules.blocks.network import Network
from modules.config import Settings
from modules.patterns.alarm_routing import stack_alarm_topic
from modules.patterns.network import network_props, shared_network_name
from modules.stack.base import store_teardown


class NetworkRegion(Construct):
    """One region's VPC (the network block's defaults), the key of its flow logs and alarms,
    and the topic its alarms notify (its own unless ``[alarms]`` names where they go)."""

    def __init__(self, scope: Construct, id: str, settings: Settings, *, region: str) -> None:
        super().__init__(scope, id)
        self.region = region
        self.prefix = shared_network_name(settings, region)
        account = caller_identity(self)
        self.key = KmsKey(
            self,
            "key",
            KmsKeyProps(
                alias=self.prefix,
                description=f"Encrypts the flow logs and alarm notifications of {self.prefix}",
                teardown=store_teardown(settings),
                extra_policy_statements=(
                    logs_use_statement(region, account_logs_arn(region, account.account_id)),
                    service_use_statement("CloudWatchAlarmsPublishToTopic", "cloudwatch.amazonaws.com"),
                ),
            ),
        )
        self.network = Network(self, "network", network_props(settings, self.prefix, self.key.arn, region))
        self.topic = stack_alarm_topic(
            self, settings, name=f"{self.prefix}-alarms", kms_key_arn=self.key.arn, region=region
        )
