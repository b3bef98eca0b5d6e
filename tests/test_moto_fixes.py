"""The emulator's bucket-policy fix: conditions are evaluated as AWS evaluates them, so the
TLS-only policy every bucket carries lets SDK calls through and a condition that holds for
them still denies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from modules.blocks.secure_bucket import tls_only_statements
from tools.deploy.round_trip import aws_client, emulator_settings
from tools.harness.moto_fixes import REQUEST_CONTEXT, conditions_hold, policy_for_request
from tools.harness.moto_server import MotoServer


def test_tls_only_statements_do_not_apply_to_an_sdk_call_over_tls_1_3() -> None:
    bucket = "arn:aws:s3:::b"
    doc = json.loads(
        policy_for_request(json.dumps({"Version": "2012-10-17", "Statement": tls_only_statements(bucket)}))
    )
    assert doc["Statement"] == [], "neither Deny applies to HTTPS with TLS 1.3"


@pytest.mark.parametrize(
    ("conditions", "context", "expected"),
    [
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "false"}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        ({"NumericLessThan": {"s3:TlsVersion": "1.2"}}, {"s3:TlsVersion": "1.0"}, True),
        ({"NumericLessThan": {"s3:TlsVersion": "1.2"}}, REQUEST_CONTEXT, False),
        # A key the request does not carry makes the condition false (AWS), not true (moto).
        ({"StringEquals": {"aws:SourceAccount": "123456789012"}}, REQUEST_CONTEXT, False),
        ({"StringEquals": {"aws:SecureTransport": ["false", "true"]}}, REQUEST_CONTEXT, True),
        ({"StringNotEquals": {"aws:SecureTransport": ["false", "no"]}}, REQUEST_CONTEXT, True),
        # Every operator block must hold.
        (
            {"Bool": {"aws:SecureTransport": "true"}, "NumericLessThan": {"s3:TlsVersion": "1.2"}},
            REQUEST_CONTEXT,
            False,
        ),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, REQUEST_CONTEXT, None),  # unknown: moto decides
    ],
)
def test_conditions_are_evaluated_as_aws_does(
    conditions: dict[str, Any], context: dict[str, str], expected: bool | None
) -> None:
    assert conditions_hold(conditions, context) is expected


@pytest.fixture(scope="module")
def s3(moto: MotoServer) -> Any:
    return aws_client("s3", emulator_settings(moto.endpoint, environ={}))


def _bucket_with(s3: Any, name: str, statements: list[dict[str, Any]]) -> None:
    s3.create_bucket(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))


@pytest.mark.slow
@pytest.mark.emulator
def test_emulator_serves_objects_of_a_tls_only_bucket(s3: Any) -> None:
    _bucket_with(s3, "tls-only", tls_only_statements("arn:aws:s3:::tls-only"))
    s3.put_object(Bucket="tls-only", Key="k", Body=b"v")
    assert s3.head_object(Bucket="tls-only", Key="k")["ContentLength"] == 1
    assert s3.get_object(Bucket="tls-only", Key="k")["Body"].read() == b"v"


@pytest.mark.slow
@pytest.mark.emulator
def test_emulator_still_denies_when_a_deny_condition_holds(s3: Any) -> None:
    """The fix must not switch policies off: a Deny whose condition holds for the call refuses it."""
    arn = "arn:aws:s3:::deny-secure"
    deny = {
        "Sid": "DenyTls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    }
    _bucket_with(s3, "deny-secure", [deny])
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="deny-secure", Key="k", Body=b"v")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.slow
@pytest.mark.emulator
def test_emulator_empties_a_bucket_whose_versioning_was_suspended(s3: Any) -> None:
    """Terraform's destroy order: versioning suspended first, then every version and delete
    marker deleted by id (force_destroy), then the bucket."""
    s3.create_bucket(Bucket="suspended")
    s3.put_bucket_versioning(Bucket="suspended", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket="suspended", Key="state", Body=body)
    s3.put_object(Bucket="suspended", Key="state.tflock", Body=b"lock")
    s3.delete_object(Bucket="suspended", Key="state.tflock")  # a delete marker, as every unlock leaves
    s3.put_bucket_versioning(Bucket="suspended", VersioningConfiguration={"Status": "Suspended"})
    listing = s3.list_object_versions(Bucket="suspended")
    entries = listing["Versions"] + listing["DeleteMarkers"]
    assert len(entries) == 4
    first, *rest = entries
    s3.delete_object(Bucket="suspended", Key=first["Key"], VersionId=first["VersionId"])
    left = s3.list_object_versions(Bucket="suspended")
    assert len(left.get("Versions", []) + left.get("DeleteMarkers", [])) == 3, "one version deleted, not the key"
    response = s3.delete_objects(
        Bucket="suspended", Delete={"Objects": [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in rest]}
    )
    assert len(response["Deleted"]) == 3 and not response.get("Errors")
    s3.delete_bucket(Bucket="suspended")


@pytest.mark.slow
@pytest.mark.emulator
def test_concurrent_calls_are_served_as_atomic_api_calls(tmp_path: Path) -> None:
    """Terraform makes 10 calls at once. Stock moto's threaded server then fails some with
    'dictionary changed size during iteration' (HTTP 500), and the SDK's retry of a create that
    had already happened answers InvalidPermission.Duplicate. Served one at a time, every call
    succeeds once, and the log names each call with its status."""
    import threading

    from botocore.config import Config

    log = tmp_path / "moto.log"
    failures: list[str] = []
    threads_n, calls_n = 10, 40
    with MotoServer(log) as server:
        settings = emulator_settings(server.endpoint, environ={})
        vpc = aws_client("ec2", settings).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        tags = [{"Key": f"k{i}", "Value": "v"} for i in range(8)]

        def create_and_describe(worker: int) -> None:
            ec2 = aws_client("ec2", settings, config=Config(retries={"max_attempts": 1}))
            for i in range(calls_n):
                try:
                    group = ec2.create_security_group(
                        GroupName=f"g{worker}-{i}",
                        Description="d",
                        VpcId=vpc,
                        TagSpecifications=[{"ResourceType": "security-group", "Tags": tags}],
                    )["GroupId"]
                    ec2.authorize_security_group_ingress(
                        GroupId=group,
                        IpPermissions=[
                            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}
                        ],
                        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": tags}],
                    )
                    ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
                except Exception as exc:  # every failure counts, whatever its kind
                    failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")

        threads = [threading.Thread(target=create_and_describe, args=(n,)) for n in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
    calls = [line for line in log.read_text().splitlines() if line.startswith("api ")]
    assert sum(" AuthorizeSecurityGroupIngress 200 " in c for c in calls) == threads_n * calls_n
    assert not [c for c in calls if " raised" in c]


def test_a_failed_emulator_test_reports_the_calls_the_emulator_refused(tmp_path: Path) -> None:
    from tests.conftest import refused_emulator_calls

    (tmp_path / "moto.log").write_text(
        '127.0.0.1 - - [30/Nov/2026 10:00:00] "POST / HTTP/1.1" 200 -\n'
        "api :5001 POST CreateLaunchTemplate 200 10ms\n"
        "api :5002 POST DeleteLaunchTemplate 200 9ms\n"
        "api :5003 POST DeleteLaunchTemplate 400 3ms\n"
        "api :5004 GET /bucket raised RuntimeError 4ms\n"
    )
    assert refused_emulator_calls(tmp_path) == [
        "moto.log: api :5004 GET /bucket raised RuntimeError 4ms",
        "moto.log: api :5003 POST DeleteLaunchTemplate 400 3ms",
    ]
