"""The Python function block: a deterministic code archive, a retained and encrypted log
group created first, tracing, capped concurrency and a role of its own, in a stack of its own."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from modules.blocks.iam import allow
from modules.blocks.python_function import PythonFunctionProps
from tests.conftest import StackDoc, by_path, ref, stack_doc

KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d"
ACCOUNT = "123456789012"
READ_QUEUE = allow("ReadQueue", ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "arn:aws:sqs:us-east-1:123456789012:q")


def write_code(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "handler.py").write_text(body)
    (folder / "helpers.py").write_text("X = 1\n")
    return folder


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``one`` and ``twin``: the same source, touched at different times (two checkouts);
    ``changed``: one line different."""
    root = tmp_path_factory.mktemp("code")
    source = "def handler(event, context):\n    return event\n"
    one = write_code(root / "one", source)
    twin = write_code(root / "twin", source)
    os.utime(twin / "handler.py", (1_700_000_000, 1_700_000_000))
    (twin / "__pycache__").mkdir()
    (twin / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\x00")
    changed = write_code(root / "changed", source.replace("event\n", "None\n"))
    return {"one": one, "twin": twin, "changed": changed}


def props(code_dir: Path, name: str, **overrides: Any) -> PythonFunctionProps:
    given: dict[str, Any] = {"kms_key_arn": KEY, "account_id": ACCOUNT, "region": "us-east-1"} | overrides
    return PythonFunctionProps(name=name, code_dir=code_dir, **given)


@pytest.fixture(scope="module")
def doc(code: dict[str, Path]) -> StackDoc:
    """``main``: every option set; ``twin`` and ``changed``: the defaults."""
    import cdktf

    from modules.blocks.python_function import PythonFunction

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "functions")
    PythonFunction(
        stack,
        "main",
        props(
            code["one"],
            "blocks-main",
            publish=True,
            memory_mib=256,
            timeout_s=30,
            reserved_concurrency=5,
            log_retention_days=30,
            environment={"QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q"},
            policy_statements=(READ_QUEUE,),
        ),
    )
    PythonFunction(stack, "twin", props(code["twin"], "blocks-twin"))
    PythonFunction(stack, "changed", props(code["changed"], "blocks-changed"))
    return stack_doc(stack)


def function(doc: StackDoc, name: str) -> dict[str, Any]:
    return by_path(doc, "aws_lambda_function", f"{name}/function")


def archive_digest(doc: StackDoc, name: str) -> str:
    """The content digest cdktf puts in the asset's path (``assets/<id>/<digest>/archive.zip``)."""
    match = re.fullmatch(r"assets/[^/]+/([0-9A-F]{32})/archive\.zip", function(doc, name)["filename"])
    assert match, function(doc, name)["filename"]
    return match.group(1)


def role_policy(doc: StackDoc, name: str) -> list[dict[str, Any]]:
    written = by_path(doc, "aws_iam_role_policy", f"{name}/policy")
    return json.loads(written["policy"])["Statement"]  # type: ignore[no-any-return]


def test_the_same_source_gives_the_same_archive_whatever_its_times_and_caches(doc: StackDoc) -> None:
    """Fault tolerance of the deploy: two checkouts of unchanged code show no diff (no
    needless redeploy); a changed line is a new archive, so it is deployed."""
    assert archive_digest(doc, "main") == archive_digest(doc, "twin")
    assert archive_digest(doc, "changed") != archive_digest(doc, "main")


def test_source_code_hash_is_the_base64_sha256_of_the_deployed_archive(doc: StackDoc) -> None:
    """Lambda compares ``source_code_hash`` with the base64 SHA-256 of the code: any other
    hash (cdktf's MD5 asset hash) shows a diff on every plan."""
    fn = function(doc, "main")
    assert fn["source_code_hash"] == '${filebase64sha256("' + fn["filename"] + '")}'


def test_the_log_group_is_retained_encrypted_and_created_before_the_function(doc: StackDoc) -> None:
    """Else Lambda creates the group on first write: kept forever and not encrypted."""
    logs = by_path(doc, "aws_cloudwatch_log_group", "main/logs")
    assert (logs["name"], logs["retention_in_days"], logs["kms_key_id"]) == ("/aws/lambda/blocks-main", 30, KEY)
    assert by_path(doc, "aws_cloudwatch_log_group", "twin/logs")["retention_in_days"] == 365
    depends = function(doc, "main")["depends_on"]
    for rtype, path in (("aws_cloudwatch_log_group", "main/logs"), ("aws_iam_role_policy", "main/policy")):
        assert f"{rtype}.{by_path(doc, rtype, path)['//']['metadata']['uniqueId']}" in depends


def test_the_function_traces_caps_its_concurrency_and_encrypts_its_environment(doc: StackDoc) -> None:
    """Tracing shows where a failed request failed; the concurrency cap protects the
    downstreams and the account's other functions; the environment is encrypted with the key."""
    fn = function(doc, "main")
    assert fn["tracing_config"] == {"mode": "Active"}
    assert fn["reserved_concurrent_executions"] == 5
    assert fn["kms_key_arn"] == KEY
    assert fn["environment"] == {"variables": {"QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}}
    assert (fn["function_name"], fn["handler"], fn["runtime"]) == ("blocks-main", "handler.handler", "python3.12")
    assert (fn["memory_size"], fn["timeout"], fn["ephemeral_storage"]) == (256, 30, {"size": 512})
    assert fn["architectures"] == ["arm64"]
    assert fn["role"] == ref(by_path(doc, "aws_iam_role", "main/role"), "aws_iam_role", "arn")


def test_defaults_cap_concurrency_and_publish_no_versions(doc: StackDoc) -> None:
    """Versions are published only for an alias a canary moves: ``publish`` is left out otherwise."""
    fn = function(doc, "twin")
    assert fn["reserved_concurrent_executions"] == 10
    assert (fn["memory_size"], fn["timeout"]) == (1024, 60)
    assert "publish" not in fn
    assert function(doc, "main")["publish"] is True


def test_only_lambda_in_this_account_may_assume_the_role(doc: StackDoc) -> None:
    """Security: the account condition stops a confused deputy in another account."""
    role = by_path(doc, "aws_iam_role", "main/role")
    assert role["name"] == "blocks-main"
    assert json.loads(role["assume_role_policy"])["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]


def test_the_role_may_write_its_own_logs_and_traces_and_what_it_is_given_nothing_else(doc: StackDoc) -> None:
    """Least privilege: its own log group only (not logs:CreateLogGroup, not another group),
    decrypt with its key only, and the caller's statements as given."""
    written = by_path(doc, "aws_iam_role_policy", "main/policy")
    assert written["role"] == ref(by_path(doc, "aws_iam_role", "main/role"), "aws_iam_role", "id")
    assert role_policy(doc, "main") == [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/blocks-main:*",
        },
        {
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        },
        {"Sid": "DecryptOwnEnvironment", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY},
        READ_QUEUE,
    ]
    assert [s["Sid"] for s in role_policy(doc, "twin")] == ["WriteOwnLogs", "WriteTraces", "DecryptOwnEnvironment"]


# --- Props validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "has space"),
        ("name", "x" * 65),
        ("name", ""),
        ("handler", "absent.handler"),
        ("runtime", "python3.8"),
        ("memory_mib", 127),
        ("memory_mib", 10241),
        ("timeout_s", 0),
        ("timeout_s", 901),
        ("ephemeral_storage_mib", 511),
        ("ephemeral_storage_mib", 10241),
        ("reserved_concurrency", 0),
        ("log_retention_days", 10),
        ("log_retention_days", 0),
    ],
)
def test_each_bad_value_is_refused_by_name(code: dict[str, Path], field: str, value: object) -> None:
    """A handler module absent from the code folder is a function that fails on every
    invocation; the retention must be one CloudWatch Logs accepts (10 is not)."""
    values: dict[str, Any] = {"name": "blocks-ok", field: value}
    with pytest.raises(ValueError, match=field):
        props(code["one"], **values)


def test_a_code_folder_without_the_handler_module_is_refused_by_name(tmp_path: Path, code: dict[str, Path]) -> None:
    empty = tmp_path / "empty"
    shutil.copytree(code["one"], empty)
    (empty / "handler.py").unlink()
    with pytest.raises(ValueError, match="code_dir"):
        props(empty, "blocks-empty")


def test_every_problem_is_named_at_once(code: dict[str, Path]) -> None:
    with pytest.raises(ValueError) as err:
        props(code["one"], "bad name", runtime="python2.7", timeout_s=0)
    for field in ("name", "runtime", "timeout_s"):
        assert field in str(err.value)


def test_the_limits_themselves_are_accepted(code: dict[str, Path]) -> None:
    limits = props(
        code["one"], "x" * 64, memory_mib=10240, timeout_s=900, ephemeral_storage_mib=10240, log_retention_days=3653
    )
    assert limits.log_group_name == "/aws/lambda/" + "x" * 64


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_ACCESS_KEY_ID", "TZ", "QUEUE-URL", "Q", "1ST", "_HANDLER"])
def test_an_environment_variable_lambda_refuses_is_refused_by_name(code: dict[str, Path], variable: str) -> None:
    """Lambda refuses the names it reserves and names outside [A-Za-z][A-Za-z0-9_]+ only at apply."""
    with pytest.raises(ValueError, match=rf"environment=.*: must be variable names .*; refused: '{variable}'$"):
        props(code["one"], "blocks-env", environment={"QUEUE_URL": "x", variable: "x"})


@pytest.mark.parametrize("variable", ["QUEUE_URL", "AWS_LAMBDA_EXEC_WRAPPER", "PYTHONPATH", "ab"])
def test_an_environment_variable_lambda_allows_is_accepted(code: dict[str, Path], variable: str) -> None:
    assert variable in props(code["one"], "blocks-env", environment={variable: "x"}).environment


@pytest.mark.parametrize("arn", ["", "alias/blocks"])
def test_a_key_arn_that_names_no_kms_key_is_refused_by_name(code: dict[str, Path], arn: str) -> None:
    """An empty key would leave the environment and the logs on AWS-managed keys."""
    with pytest.raises(ValueError, match=rf"kms_key_arn='{arn}': must be a KMS key or alias ARN"):
        props(code["one"], "blocks-key", kms_key_arn=arn)
