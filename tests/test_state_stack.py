"""The `state` bootstrap: what makes the state bucket safe to keep every stack's state in."""

from __future__ import annotations

import json

from tests.conftest import StackDoc, one, resources


def test_state_bucket_name_comes_from_settings(stacks: dict[str, StackDoc]) -> None:
    assert one(stacks["state"], "aws_s3_bucket")["bucket"] == "resilient-ai-dev-tfstate-us-east-1"


def test_versioning_keeps_every_state_revision(stacks: dict[str, StackDoc]) -> None:
    versioning = one(stacks["state"], "aws_s3_bucket_versioning")
    assert versioning["versioning_configuration"] == {"status": "Enabled"}


def test_encrypted_with_its_own_rotating_key(stacks: dict[str, StackDoc]) -> None:
    key = one(stacks["state"], "aws_kms_key")
    assert key["enable_key_rotation"] is True
    rule = one(stacks["state"], "aws_s3_bucket_server_side_encryption_configuration")["rule"][0]
    sse = rule["apply_server_side_encryption_by_default"]
    assert sse["sse_algorithm"] == "aws:kms"
    assert sse["kms_master_key_id"].startswith("${aws_kms_key.") and sse["kms_master_key_id"].endswith(".arn}")
    assert rule["bucket_key_enabled"] is True


def test_key_policy_leaves_the_account_in_control(stacks: dict[str, StackDoc]) -> None:
    policy = json.loads(one(stacks["state"], "aws_kms_key")["policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"]["AWS"].endswith(":root")
    assert statement["Action"] == "kms:*"


def test_public_access_fully_blocked_and_acls_disabled(stacks: dict[str, StackDoc]) -> None:
    pab = one(stacks["state"], "aws_s3_bucket_public_access_block")
    assert all(
        pab[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    ownership = one(stacks["state"], "aws_s3_bucket_ownership_controls")
    assert ownership["rule"] == {"object_ownership": "BucketOwnerEnforced"}


def test_bucket_policy_denies_plain_http_and_old_tls(stacks: dict[str, StackDoc]) -> None:
    policy = json.loads(one(stacks["state"], "aws_s3_bucket_policy")["policy"])
    conditions = {s["Sid"]: (s["Effect"], s["Condition"]) for s in policy["Statement"]}
    assert conditions["DenyInsecureTransport"] == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    assert conditions["DenyOutdatedTls"] == ("Deny", {"NumericLessThan": {"s3:TlsVersion": "1.2"}})
    resources_ = policy["Statement"][0]["Resource"]
    assert any(r.endswith(".arn}/*") for r in resources_), "objects, not only the bucket, are covered"


def test_noncurrent_versions_expire_but_recent_ones_are_kept(stacks: dict[str, StackDoc]) -> None:
    (rule,) = one(stacks["state"], "aws_s3_bucket_lifecycle_configuration")["rule"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == [{}], "an empty filter covers every object"
    assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 90, "newer_noncurrent_versions": 10}]
    assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]


def test_outputs_name_bucket_and_key(stacks: dict[str, StackDoc]) -> None:
    outputs = stacks["state"]["output"]
    assert set(outputs) == {"state_bucket_name", "state_bucket_arn", "state_kms_key_arn"}
    assert all(o["description"] for o in outputs.values())


def test_only_the_expected_resources(stacks: dict[str, StackDoc]) -> None:
    types = {t: len(resources(stacks["state"], t)) for t in stacks["state"]["resource"]}
    assert types == {
        "aws_kms_key": 1,
        "aws_kms_alias": 1,
        "aws_s3_bucket": 1,
        "aws_s3_bucket_versioning": 1,
        "aws_s3_bucket_server_side_encryption_configuration": 1,
        "aws_s3_bucket_public_access_block": 1,
        "aws_s3_bucket_ownership_controls": 1,
        "aws_s3_bucket_policy": 1,
        "aws_s3_bucket_lifecycle_configuration": 1,
    }
