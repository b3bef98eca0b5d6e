"""The secure bucket block: versioned, encrypted, private, TLS-only, with bounded history,
in a stack of its own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modules.blocks.secure_bucket import SecureBucketProps
from modules.blocks.teardown import Teardown
from tests.conftest import StackDoc, by_path, ref, stack_doc

KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d"
LOG_DELIVERY = {
    "Sid": "LogDelivery",
    "Effect": "Allow",
    "Principal": {"Service": "logging.s3.amazonaws.com"},
    "Action": "s3:PutObject",
    "Resource": "arn:aws:s3:::blocks-logs/*",
}


@pytest.fixture(scope="module")
def doc() -> StackDoc:
    """``data``: the defaults with a customer key and access logs; ``logs``: an access-log
    target (SSE-S3), its objects expiring, no versions kept by count, not protected."""
    import cdktf

    from modules.blocks.secure_bucket import SecureBucket

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "buckets")
    SecureBucket(
        stack,
        "data",
        SecureBucketProps(
            bucket_name="blocks-data", kms_key_arn=KEY, access_log_bucket="blocks-logs", access_log_prefix="data/"
        ),
    )
    SecureBucket(
        stack,
        "logs",
        SecureBucketProps(
            bucket_name="blocks-logs",
            kms_key_arn=None,
            expiry_days=30,
            noncurrent_versions_kept=0,
            teardown=Teardown.WITH_DATA,
            extra_policy_statements=(LOG_DELIVERY,),
        ),
    )
    return stack_doc(stack)


def bucket_id(doc: StackDoc, name: str) -> str:
    return ref(by_path(doc, "aws_s3_bucket", f"{name}/bucket"), "aws_s3_bucket", "id")


def dependency(doc: StackDoc, rtype: str, path: str) -> str:
    return f"{rtype}.{by_path(doc, rtype, path)['//']['metadata']['uniqueId']}"


def policy(doc: StackDoc, name: str) -> dict[str, Any]:
    return json.loads(by_path(doc, "aws_s3_bucket_policy", f"{name}/policy")["policy"])  # type: ignore[no-any-return]


def test_the_bucket_has_its_name_and_a_plan_never_destroys_it_unless_told(doc: StackDoc) -> None:
    """Fault tolerance: by default a data bucket survives a plan that would replace or delete it,
    and holds no ``force_destroy``. Told to go with its data, it is deleted objects and all, with
    no ``prevent_destroy = false`` written."""
    bucket = by_path(doc, "aws_s3_bucket", "data/bucket")
    assert bucket["bucket"] == "blocks-data"
    assert bucket["lifecycle"] == {"prevent_destroy": True} and "force_destroy" not in bucket
    logs = by_path(doc, "aws_s3_bucket", "logs/bucket")
    assert "lifecycle" not in logs and logs["force_destroy"] is True


def test_versioning_is_on_for_the_bucket(doc: StackDoc) -> None:
    """Fault tolerance: an overwrite or a delete is recoverable from the previous version."""
    for name in ("data", "logs"):
        versioning = by_path(doc, "aws_s3_bucket_versioning", f"{name}/versioning")
        assert versioning["bucket"] == bucket_id(doc, name)
        assert versioning["versioning_configuration"] == {"status": "Enabled"}


def test_objects_are_encrypted_with_the_given_customer_key_and_bucket_keys(doc: StackDoc) -> None:
    """Security: SSE-KMS with the stack's key, so reading needs kms:Decrypt as well as
    s3:GetObject; the bucket key cuts the KMS calls (and their cost and throttling)."""
    encryption = by_path(doc, "aws_s3_bucket_server_side_encryption_configuration", "data/encryption")
    assert encryption["bucket"] == bucket_id(doc, "data")
    assert encryption["rule"] == [
        {
            "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": KEY},
            "bucket_key_enabled": True,
        }
    ]


def test_without_a_key_objects_are_encrypted_with_s3_managed_keys(doc: StackDoc) -> None:
    """Access-log writers cannot use a customer key: SSE-S3, never unencrypted."""
    encryption = by_path(doc, "aws_s3_bucket_server_side_encryption_configuration", "logs/encryption")
    assert encryption["rule"] == [{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}]


def test_every_public_access_is_blocked_and_acls_are_off(doc: StackDoc) -> None:
    """Security: no ACL or policy can make an object public; the owner owns every object."""
    block = by_path(doc, "aws_s3_bucket_public_access_block", "data/public-access-block")
    assert block == {
        "bucket": bucket_id(doc, "data"),
        "block_public_acls": True,
        "block_public_policy": True,
        "ignore_public_acls": True,
        "restrict_public_buckets": True,
        "//": block["//"],
    }
    ownership = by_path(doc, "aws_s3_bucket_ownership_controls", "data/ownership")
    assert ownership["rule"] == {"object_ownership": "BucketOwnerEnforced"}


def test_the_policy_refuses_every_request_not_over_tls_12(doc: StackDoc) -> None:
    """Security: plain HTTP and TLS below 1.2 are denied for the bucket and every object."""
    arn = ref(by_path(doc, "aws_s3_bucket", "data/bucket"), "aws_s3_bucket", "arn")
    statements = policy(doc, "data")["Statement"]
    assert [s["Sid"] for s in statements] == ["DenyInsecureTransport", "DenyOutdatedTls"]
    conditions = [s["Condition"] for s in statements]
    assert conditions == [{"Bool": {"aws:SecureTransport": "false"}}, {"NumericLessThan": {"s3:TlsVersion": "1.2"}}]
    for statement in statements:
        assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
        assert statement["Resource"] == [arn, f"{arn}/*"]


def test_extra_grants_come_first_and_the_policy_waits_for_the_public_access_block(doc: StackDoc) -> None:
    """S3 rejects a bucket policy while the public access block is being set: the order is
    what makes the first apply succeed."""
    statements = policy(doc, "logs")["Statement"]
    assert statements[0] == LOG_DELIVERY
    assert [s["Sid"] for s in statements[1:]] == ["DenyInsecureTransport", "DenyOutdatedTls"]
    written = by_path(doc, "aws_s3_bucket_policy", "logs/policy")
    assert written["depends_on"] == [dependency(doc, "aws_s3_bucket_public_access_block", "logs/public-access-block")]


def test_history_is_bounded_and_abandoned_uploads_are_cleaned(doc: StackDoc) -> None:
    """Versioning without expiry grows without bound: noncurrent versions expire after 90
    days keeping the newest 10, incomplete multipart uploads are aborted after 7 days, and
    current objects are kept. The rule waits for versioning, which it acts on."""
    lifecycle = by_path(doc, "aws_s3_bucket_lifecycle_configuration", "data/lifecycle")
    assert lifecycle["bucket"] == bucket_id(doc, "data")
    assert lifecycle["depends_on"] == [dependency(doc, "aws_s3_bucket_versioning", "data/versioning")]
    (rule,) = lifecycle["rule"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == [{}], "an empty filter: every object"
    assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 90, "newer_noncurrent_versions": 10}]
    assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]
    assert "expiration" not in rule


def test_log_buckets_expire_their_objects_and_may_keep_no_versions_by_count(doc: StackDoc) -> None:
    """The provider refuses ``newer_noncurrent_versions = 0``: none kept by count is written as no limit."""
    (rule,) = by_path(doc, "aws_s3_bucket_lifecycle_configuration", "logs/lifecycle")["rule"]
    assert rule["expiration"] == [{"days": 30}]
    assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 90}]


def test_server_access_logs_go_where_asked_and_only_when_asked(doc: StackDoc) -> None:
    """Security: who read or wrote what is recorded in the log bucket."""
    logging = by_path(doc, "aws_s3_bucket_logging", "data/access-logs")
    assert logging["bucket"] == bucket_id(doc, "data")
    assert (logging["target_bucket"], logging["target_prefix"]) == ("blocks-logs", "data/")
    paths = [r["//"]["metadata"]["path"] for r in doc["resource"]["aws_s3_bucket_logging"].values()]
    assert paths == ["buckets/data/access-logs"]


# --- Props validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bucket_name", "Blocks_Data"),
        ("bucket_name", "ab"),
        ("bucket_name", "192.168.0.1"),
        ("noncurrent_version_expiry_days", 0),
        ("noncurrent_version_expiry_days", 3651),
        ("noncurrent_versions_kept", -1),
        ("noncurrent_versions_kept", 101),
        ("abort_incomplete_multipart_days", 0),
        ("abort_incomplete_multipart_days", 366),
        ("expiry_days", 0),
        ("expiry_days", 3651),
    ],
)
def test_each_bad_value_is_refused_by_name(field: str, value: object) -> None:
    props: dict[str, Any] = {"bucket_name": "blocks-data", "kms_key_arn": KEY, field: value}
    with pytest.raises(ValueError, match=field):
        SecureBucketProps(**props)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ValueError) as err:
        SecureBucketProps(bucket_name="x", kms_key_arn=None, noncurrent_version_expiry_days=0, expiry_days=0)
    for field in ("bucket_name", "noncurrent_version_expiry_days", "expiry_days"):
        assert field in str(err.value)


def test_a_name_known_only_at_apply_is_not_judged() -> None:
    """A Terraform expression (a name built from the account id) is not a bucket name yet."""
    props = SecureBucketProps(bucket_name="${data.aws_caller_identity.account.account_id}-x", kms_key_arn=None)
    assert props.bucket_name.startswith("${")


def test_the_limits_themselves_are_accepted() -> None:
    props = SecureBucketProps(
        bucket_name="abc",
        kms_key_arn=None,
        noncurrent_version_expiry_days=3650,
        noncurrent_versions_kept=100,
        abort_incomplete_multipart_days=365,
        expiry_days=1,
    )
    assert props.expiry_days == 1


@pytest.mark.parametrize("arn", ["", "0a1b2c3d", "arn:aws:s3:::blocks-data"])
def test_a_key_arn_that_names_no_kms_key_is_refused_by_name(arn: str) -> None:
    """An empty key id makes S3 encrypt with the AWS-managed aws/s3 key instead of the
    stack's customer key; None (SSE-S3) is the way to ask for no customer key."""
    with pytest.raises(ValueError, match=rf"^SecureBucketProps: kms_key_arn='{arn}': must be a KMS key or alias ARN"):
        SecureBucketProps(bucket_name="blocks-data", kms_key_arn=arn)


@pytest.mark.parametrize("arn", ["arn:aws:kms:eu-west-1:123456789012:alias/data", "${aws_kms_key.key.arn}"])
def test_an_alias_arn_or_a_key_known_only_at_apply_is_accepted(arn: str) -> None:
    assert SecureBucketProps(bucket_name="blocks-data", kms_key_arn=arn).kms_key_arn == arn


def test_a_bucket_that_logs_into_itself_is_refused_by_name() -> None:
    """Every log object written would itself be logged, and the bucket grow without bound."""
    with pytest.raises(ValueError, match=r"access_log_bucket='blocks-data': must be another bucket than bucket_name"):
        SecureBucketProps(bucket_name="blocks-data", kms_key_arn=KEY, access_log_bucket="blocks-data")
