"""The KMS key block: a customer key that rotates, can be recovered for 30 days after a
mistaken deletion, and is governed by the account's IAM policies, in a stack of its own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modules.blocks.kms_key import KmsKeyProps, account_logs_arn, logs_use_statement, service_use_statement
from modules.blocks.teardown import Teardown
from tests.conftest import StackDoc, by_path, ref, stack_doc

LOGS_ARN = "arn:aws:logs:us-east-1:123456789012:*"


@pytest.fixture(scope="module")
def doc() -> StackDoc:
    """``plain``: the defaults; ``guarded``: the shortest window, one service grant;
    ``disposable``: goes with its data (``Teardown.WITH_DATA``)."""
    import cdktf

    from modules.blocks.kms_key import KmsKey

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "kms")
    KmsKey(stack, "plain", KmsKeyProps(alias="kms-plain", description="the defaults"))
    KmsKey(
        stack,
        "guarded",
        KmsKeyProps(
            alias="kms-guarded",
            description="protected",
            deletion_window_days=7,
            extra_policy_statements=(logs_use_statement("us-east-1", LOGS_ARN),),
        ),
    )
    KmsKey(
        stack,
        "disposable",
        KmsKeyProps(alias="kms-disposable", description="unprotected", teardown=Teardown.WITH_DATA),
    )
    return stack_doc(stack)


def key_policy(doc: StackDoc, path: str) -> dict[str, Any]:
    return json.loads(by_path(doc, "aws_kms_key", path)["policy"])  # type: ignore[no-any-return]


def test_rotation_is_on_and_a_deletion_can_be_cancelled_for_30_days(doc: StackDoc) -> None:
    """Security: yearly rotation bounds what one leaked key version decrypts. Fault tolerance:
    a key scheduled for deletion by mistake can be restored for the longest window AWS allows."""
    key = by_path(doc, "aws_kms_key", "plain/key")
    assert key["enable_key_rotation"] is True
    assert key["deletion_window_in_days"] == 30
    assert key["description"] == "the defaults"


def test_the_deletion_window_is_the_one_given(doc: StackDoc) -> None:
    assert by_path(doc, "aws_kms_key", "guarded/key")["deletion_window_in_days"] == 7


def test_a_key_refuses_destroy_unless_told_to_go_with_its_data(doc: StackDoc) -> None:
    """A key whose loss makes data unreadable is never destroyed by a plan by default; one told to
    go with its data (an unprotected environment's) carries no ``prevent_destroy = false`` a
    review would have to read past, and is deleted after AWS's shortest window."""
    assert by_path(doc, "aws_kms_key", "plain/key")["lifecycle"] == {"prevent_destroy": True}
    disposable = by_path(doc, "aws_kms_key", "disposable/key")
    assert "lifecycle" not in disposable
    assert disposable["deletion_window_in_days"] == 7


def test_the_key_policy_gives_control_to_this_account_only(doc: StackDoc) -> None:
    """Security and no lock-out: the only principal is this account's root (so IAM policies
    decide who uses the key), read from the credentials, never a wildcard or another account."""
    account = ref(by_path(doc, "data.aws_caller_identity", "plain/account"), "data.aws_caller_identity", "account_id")
    partition = ref(by_path(doc, "data.aws_partition", "plain/partition"), "data.aws_partition", "partition")
    assert key_policy(doc, "plain/key") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministersKeyThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def test_service_grants_follow_the_account_statement_and_are_scoped_by_encryption_context(doc: StackDoc) -> None:
    """A service principal may use the key only for the log groups its condition names."""
    statements = key_policy(doc, "guarded/key")["Statement"]
    assert [s["Sid"] for s in statements] == ["AccountAdministersKeyThroughIam", "CloudWatchLogsUseKey"]
    logs = statements[1]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": LOGS_ARN}}
    assert "kms:*" not in logs["Action"] and not any(a.startswith(("kms:Create", "kms:Put")) for a in logs["Action"])


def test_the_alias_names_this_key(doc: StackDoc) -> None:
    for name in ("plain", "guarded"):
        alias = by_path(doc, "aws_kms_alias", f"{name}/alias")
        assert alias["name"] == f"alias/kms-{name}"
        assert alias["target_key_id"] == ref(by_path(doc, "aws_kms_key", f"{name}/key"), "aws_kms_key", "key_id")


def test_statement_helpers_scope_service_use() -> None:
    assert account_logs_arn("eu-west-1", "123456789012") == "arn:aws:logs:eu-west-1:123456789012:*"
    group = "arn:aws:logs:eu-west-1:123456789012:log-group:g"
    one_group = logs_use_statement("eu-west-1", group, sid="G", match="ArnEquals")
    assert one_group["Condition"] == {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group}}
    sns = service_use_statement("Sns", "sns.amazonaws.com")
    assert sns["Principal"] == {"Service": "sns.amazonaws.com"} and "Condition" not in sns


@pytest.mark.parametrize("days", [6, 31, 0])
def test_a_deletion_window_outside_7_to_30_days_is_refused_by_name(days: int) -> None:
    with pytest.raises(ValueError, match="deletion_window_days"):
        KmsKeyProps(alias="k", description="d", deletion_window_days=days)


@pytest.mark.parametrize("days", [7, 30])
def test_the_bounds_of_the_deletion_window_are_accepted(days: int) -> None:
    assert KmsKeyProps(alias="k", description="d", deletion_window_days=days).deletion_window_days == days


@pytest.mark.parametrize("alias", ["my key", "aws/ebs", "", "alias/twice", "a" * 251])
def test_an_alias_kms_refuses_is_refused_by_name(alias: str) -> None:
    """KMS refuses these only at apply: a space, the prefix reserved for AWS's own keys, an
    empty name, and a name that with "alias/" exceeds 256 characters; "alias/" is added once."""
    with pytest.raises(ValueError, match=rf"^KmsKeyProps: alias='{alias}': must be 1-250 letters, digits, '/', '_'"):
        KmsKeyProps(alias=alias, description="d")


@pytest.mark.parametrize("alias", ["a", "prod/model-serving_1", "a" * 250])
def test_an_alias_kms_accepts_is_accepted(alias: str) -> None:
    assert KmsKeyProps(alias=alias, description="d").alias == alias


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ValueError) as refused:
        KmsKeyProps(alias="aws/ebs", description="d", deletion_window_days=6)
    assert "alias='aws/ebs'" in str(refused.value) and "deletion_window_days=6" in str(refused.value)
