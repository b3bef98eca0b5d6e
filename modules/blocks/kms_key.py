"""A customer-managed KMS key with rotation and an explicit key policy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey as KmsKeyResource
from constructs import Construct

from modules.blocks.caller_identity import caller_identity
from modules.blocks.iam import allow
from modules.blocks.teardown import Teardown, apply_teardown
from modules.core.input_rules import KmsAliasName
from modules.core.props_check import field_problems


@dataclass(frozen=True, kw_only=True)
class KmsKeyProps:
    alias: KmsAliasName  # without the "alias/" prefix
    description: str
    deletion_window_days: int = 30  # the longest window AWS allows: time to notice a mistake
    # A key's loss makes its data unreadable: refused by default. WITH_DATA: the shortest window.
    teardown: Teardown = Teardown.REFUSED
    # Grants for AWS services that encrypt with the key on the account's behalf (CloudWatch
    # Logs, S3 notifications into an encrypted queue, CloudWatch alarms into an encrypted
    # topic): IAM policies cannot grant a service principal.
    extra_policy_statements: Sequence[dict[str, Any]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        problems = field_problems(self)
        if not 7 <= self.deletion_window_days <= 30:
            problems.append(f"deletion_window_days={self.deletion_window_days}: must be 7-30")
        if problems:
            raise ValueError("KmsKeyProps: " + "; ".join(problems))


class KmsKey(Construct):
    """A symmetric KMS key.

    Defaults that matter: automatic yearly rotation on; 30-day deletion window (7 days when
    ``teardown`` is ``WITH_DATA``); ``prevent_destroy`` (``teardown``); a key policy
    that gives the account (its IAM policies) control, so no principal is locked out
    and IAM least privilege decides who may use it; an alias for humans.
    """

    def __init__(self, scope: Construct, id: str, props: KmsKeyProps) -> None:
        super().__init__(scope, id)
        account = caller_identity(self)
        partition = DataAwsPartition(self, "partition")
        root = f"arn:{partition.partition}:iam::{account.account_id}:root"
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                allow("AccountAdministersKeyThroughIam", "kms:*", "*", principal={"AWS": root}),
                *props.extra_policy_statements,
            ],
        }
        self.key = KmsKeyResource(
            self,
            "key",
            description=props.description,
            enable_key_rotation=True,
            deletion_window_in_days=props.deletion_window_days,
            policy=json.dumps(policy),
        )
        apply_teardown(props.teardown, self.key)
        self.alias = KmsAlias(self, "alias", name=f"alias/{props.alias}", target_key_id=self.key.key_id)

    @property
    def arn(self) -> str:
        return self.key.arn


def service_use_statement(sid: str, service: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    """Key policy statement letting an AWS service principal encrypt and decrypt with the key."""
    return allow(
        sid,
        ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "*",
        principal={"Service": service},
        condition=condition,
    )


def logs_use_statement(
    region: str, logs_arn: str, sid: str = "CloudWatchLogsUseKey", match: str = "ArnLike"
) -> dict[str, Any]:
    """Key policy statement letting CloudWatch Logs in ``region`` encrypt the log groups whose
    ARN matches ``logs_arn`` (``match``: ArnLike for a pattern, ArnEquals for one group)."""
    return service_use_statement(
        sid, f"logs.{region}.amazonaws.com", {match: {"kms:EncryptionContext:aws:logs:arn": logs_arn}}
    )


def account_logs_arn(region: str, account_id: str) -> str:
    """Every log group of the account in ``region``: what a stack key's logs statement allows."""
    return f"arn:aws:logs:{region}:{account_id}:*"
