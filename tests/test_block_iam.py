"""The IAM block: policy documents written one way, and grants no wider than asked.

It writes no resource of its own: the documents are what every role, key and bucket policy
of the stacks is made of, so they are tested as the JSON Terraform receives, and once
through a role in a stack of its own."""

from __future__ import annotations

import json
import re

import pytest

from modules.blocks.iam import allow, assume_role_policy, policy_document, s3_object_read
from tests.conftest import StackDoc, by_path, stack_doc

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/t"


@pytest.fixture(scope="module")
def doc() -> StackDoc:
    import cdktf
    from cdktf_cdktf_provider_aws.iam_role import IamRole
    from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "iam")
    role = IamRole(stack, "role", name="blocks-iam", assume_role_policy=assume_role_policy("ec2.amazonaws.com"))
    IamRolePolicy(stack, "policy", role=role.id, policy=policy_document(allow("ReadTable", "dynamodb:GetItem", TABLE)))
    return stack_doc(stack)


def test_a_document_is_version_2012_with_the_statements_in_order() -> None:
    """The 2012-10-17 version is the one that understands policy variables; order is kept so
    a plan shows no reordering diff."""
    first, second = allow("A", "s3:GetObject", "arn:aws:s3:::b/k"), allow("B", "sqs:SendMessage", "arn:q")
    assert json.loads(policy_document(first, second)) == {"Version": "2012-10-17", "Statement": [first, second]}


def test_an_allow_statement_keeps_one_key_order_and_single_values_as_strings() -> None:
    """One order and one shape everywhere: a policy re-read from AWS compares equal, no diff."""
    statement = allow(
        "ReadObjects",
        ["s3:GetObject", "s3:GetObjectVersion"],
        ["arn:aws:s3:::b/a", "arn:aws:s3:::b/b"],
        principal={"AWS": "arn:aws:iam::123456789012:root"},
        condition={"Bool": {"aws:SecureTransport": "true"}},
    )
    assert list(statement) == ["Sid", "Effect", "Principal", "Action", "Resource", "Condition"]
    assert statement["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    single = allow("One", "s3:GetObject", "arn:aws:s3:::b/a")
    assert single == {"Sid": "One", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/a"}


def test_an_allow_statement_without_sid_principal_or_condition_leaves_them_out() -> None:
    bare = allow(None, "sqs:SendMessage", "arn:q")
    assert bare == {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:q"}


def test_a_trust_policy_lets_only_the_one_service_assume_the_role() -> None:
    """Security: no account or user principal, no resource (a trust policy has none), and the
    given condition narrows it against confused deputies."""
    condition = {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert json.loads(assume_role_policy("lambda.amazonaws.com", condition)) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": condition,
            }
        ],
    }


def test_a_model_read_grants_get_object_on_that_one_object() -> None:
    """Least privilege: the server may read the model it loads, not the bucket it lies in."""
    assert s3_object_read("s3://acme-models/wine/v2.json", "ReadTheModel") == {
        "Sid": "ReadTheModel",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::acme-models/wine/v2.json",
    }


@pytest.mark.parametrize("uri", ["", "/opt/models/wine.json", "https://acme-models.s3.amazonaws.com/wine.json"])
def test_a_model_that_is_not_in_s3_needs_no_grant(uri: str) -> None:
    assert s3_object_read(uri) is None


def test_a_role_and_its_policy_reach_terraform_as_written(doc: StackDoc) -> None:
    """What Terraform gets is the same JSON, not a re-encoded or re-ordered copy."""
    role = by_path(doc, "aws_iam_role", "role")
    assert json.loads(role["assume_role_policy"])["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    policy = json.loads(by_path(doc, "aws_iam_role_policy", "policy")["policy"])
    read = {"Sid": "ReadTable", "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE}
    assert policy["Statement"] == [read]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("actions", [[], "", ["s3:GetObject", ""]])
def test_a_statement_without_actions_is_refused_by_name(actions: str | list[str]) -> None:
    """IAM refuses such a statement only at apply (MalformedPolicyDocument)."""
    with pytest.raises(ValueError, match=r"^allow\('Nothing'\): actions=.*: must be one or more non-empty actions"):
        allow("Nothing", actions, "arn:q")


def test_a_statement_without_resources_is_refused_and_both_problems_are_named_at_once() -> None:
    with pytest.raises(ValueError) as refused:
        allow("Nothing", [], [])
    assert "actions=[]: must be" in str(refused.value) and "resources=[]: must be" in str(refused.value)


@pytest.mark.parametrize(
    "uri",
    [
        "s3://acme-models/*",  # a grant for the whole bucket
        "s3://acme-models/wine/v?.json",  # for every key the wildcard matches
        "s3://acme-models",  # for the object '' (none)
        "s3://acme-models/wine/",  # a folder, not an object
        "s3:///wine.json",  # no bucket
        "s3://Acme_Models/wine.json",  # no bucket S3 allows
    ],
)
def test_a_model_uri_that_names_no_single_object_is_refused_by_name(uri: str) -> None:
    with pytest.raises(ValueError, match=rf"^s3_object_read: uri='{re.escape(uri)}': must be an s3://bucket/key URI"):
        s3_object_read(uri)
