"""The Lambda canary block: triggers invoke a ``live`` alias that only CodeDeploy moves, a
share of the traffic first, and back to the old version when an alarm fires, in a stack of
its own; and the apply-time shift script, run against a stand-in ``aws`` CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modules.blocks.lambda_canary import LAMBDA_DEPLOYMENT_CONFIGS, SHIFT_SCRIPT, LambdaCanaryProps, shift_minutes
from tests.conftest import StackDoc, by_path, ref, stack_doc

ALARMS = ("blocks-errors", "blocks-latency")


@pytest.fixture(scope="module")
def doc() -> StackDoc:
    import cdktf
    from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction

    from modules.blocks.lambda_canary import LambdaCanary

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "canary")
    function = LambdaFunction(
        stack,
        "function",
        function_name="blocks-fn",
        role="arn:aws:iam::123456789012:role/blocks-fn",
        filename="code.zip",
        handler="handler.handler",
        runtime="python3.12",
        publish=True,
    )
    LambdaCanary(
        stack,
        "canary",
        LambdaCanaryProps(name="blocks-canary", region="us-east-1", alarm_names=ALARMS),
        function=function,
    )
    return stack_doc(stack)


def function_ref(doc: StackDoc, attribute: str) -> str:
    return ref(by_path(doc, "aws_lambda_function", "function"), "aws_lambda_function", attribute)


def alias_ref(doc: StackDoc, attribute: str) -> str:
    return ref(by_path(doc, "aws_lambda_alias", "canary/alias"), "aws_lambda_alias", attribute)


def address(doc: StackDoc, rtype: str, path: str) -> str:
    return f"{rtype}.{by_path(doc, rtype, path)['//']['metadata']['uniqueId']}"


def test_the_alias_starts_on_the_published_version_and_an_apply_never_moves_it(doc: StackDoc) -> None:
    """Fault tolerance: if Terraform moved the alias, a new version would take all the
    traffic at once, before any alarm could judge it; only CodeDeploy moves it."""
    alias = by_path(doc, "aws_lambda_alias", "canary/alias")
    assert alias["name"] == "live"
    assert alias["function_name"] == function_ref(doc, "function_name")
    assert alias["function_version"] == function_ref(doc, "version")
    assert alias["lifecycle"] == {"ignore_changes": ["function_version", "routing_config"]}


def test_the_new_version_gets_a_tenth_of_the_traffic_for_five_minutes_first(doc: StackDoc) -> None:
    group = by_path(doc, "aws_codedeploy_deployment_group", "canary/group")
    assert group["deployment_config_name"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert shift_minutes(group["deployment_config_name"]) == (10, 5)
    assert group["deployment_style"] == {"deployment_option": "WITH_TRAFFIC_CONTROL", "deployment_type": "BLUE_GREEN"}


def test_a_failed_deployment_or_a_firing_alarm_moves_the_alias_back(doc: StackDoc) -> None:
    """Fault tolerance: a bad version serves a tenth of the traffic for minutes, then none."""
    group = by_path(doc, "aws_codedeploy_deployment_group", "canary/group")
    assert group["auto_rollback_configuration"] == {
        "enabled": True,
        "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    assert group["alarm_configuration"] == {"enabled": True, "alarms": list(ALARMS)}


def test_the_group_belongs_to_a_lambda_application_of_the_same_name(doc: StackDoc) -> None:
    application = by_path(doc, "aws_codedeploy_app", "canary/application")
    assert (application["name"], application["compute_platform"]) == ("blocks-canary", "Lambda")
    group = by_path(doc, "aws_codedeploy_deployment_group", "canary/group")
    assert (group["app_name"], group["deployment_group_name"]) == ("blocks-canary", "blocks-canary")
    assert group["depends_on"] == [address(doc, "aws_codedeploy_app", "canary/application")]
    assert group["service_role_arn"] == ref(by_path(doc, "aws_iam_role", "canary/role"), "aws_iam_role", "arn")


def test_codedeploy_may_move_this_alias_and_read_alarms_nothing_else(doc: StackDoc) -> None:
    """Least privilege: no lambda:* and no other function's alias; only CodeDeploy assumes the role."""
    role = by_path(doc, "aws_iam_role", "canary/role")
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "codedeploy.amazonaws.com"}
    policy = by_path(doc, "aws_iam_role_policy", "canary/policy")
    assert policy["role"] == ref(role, "aws_iam_role", "id")
    statements = {s["Sid"]: (s["Action"], s["Resource"]) for s in json.loads(policy["policy"])["Statement"]}
    assert statements == {
        "ShiftTheAlias": (["lambda:GetAlias", "lambda:UpdateAlias"], alias_ref(doc, "arn")),
        "ReadProvisionedConcurrency": ("lambda:GetProvisionedConcurrencyConfig", function_ref(doc, "arn") + ":*"),
        "WatchAlarms": ("cloudwatch:DescribeAlarms", "*"),
    }


def test_each_new_version_runs_the_shift_once_the_group_exists(doc: StackDoc) -> None:
    """The shift is replaced (and so runs) exactly when the published version changes; it
    shifts from what the alias serves to the new version."""
    shift = by_path(doc, "terraform_data", "canary/shift")
    assert shift["triggers_replace"] == {"version": function_ref(doc, "version")}
    assert shift["depends_on"] == [address(doc, "aws_codedeploy_deployment_group", "canary/group")]
    (provisioner,) = shift["provisioner"]
    local = provisioner["local-exec"]
    assert local["command"] == SHIFT_SCRIPT and local["interpreter"] == ["bash", "-c"]
    assert local["environment"] == {
        "REGION": "us-east-1",
        "APPLICATION": "blocks-canary",
        "GROUP": "blocks-canary",
        "FUNCTION": function_ref(doc, "function_name"),
        "ALIAS": alias_ref(doc, "name"),
        "CURRENT": alias_ref(doc, "function_version"),
        "TARGET": function_ref(doc, "version"),
    }


# --- the shift script, against a stand-in aws CLI -----------------------------------------


def run_shift(tmp_path: Path, current: str, target: str, wait_status: int = 0) -> tuple[int, list[list[str]]]:
    """Run SHIFT_SCRIPT with a stand-in ``aws`` that records its arguments (one JSON line per
    call), answers ``create-deployment`` with an id and ends ``wait`` with ``wait_status``."""
    calls = tmp_path / "calls.jsonl"
    fake = tmp_path / "bin" / "aws"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1:3] == ['deploy', 'create-deployment']:\n"
        "    print('d-0123456789')\n"
        f"sys.exit({wait_status} if sys.argv[1:3] == ['deploy', 'wait'] else 0)\n"
    )
    fake.chmod(0o755)
    python_dir = str(Path(shutil.which("python3") or "/usr/bin/python3").parent)
    env = {
        "PATH": f"{fake.parent}:{python_dir}:/usr/bin:/bin",
        "REGION": "us-east-1",
        "APPLICATION": "blocks-canary",
        "GROUP": "blocks-canary",
        "FUNCTION": "blocks-fn",
        "ALIAS": "live",
        "CURRENT": current,
        "TARGET": target,
    }
    done = subprocess.run(["bash", "-c", SHIFT_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    recorded = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return done.returncode, recorded


def option(call: list[str], name: str) -> str:
    return call[call.index(name) + 1]


def test_the_shift_asks_codedeploy_to_move_the_alias_from_the_served_to_the_new_version(tmp_path: Path) -> None:
    status, calls = run_shift(tmp_path, current="3", target="4")
    assert status == 0
    create, wait = calls
    assert create[:2] == ["deploy", "create-deployment"]
    assert (option(create, "--application-name"), option(create, "--deployment-group-name")) == (
        "blocks-canary",
        "blocks-canary",
    )
    revision = json.loads(option(create, "--revision"))
    assert revision["revisionType"] == "AppSpecContent"
    appspec = json.loads(revision["appSpecContent"]["content"])
    (resource,) = appspec["Resources"]
    assert resource["function"] == {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Name": "blocks-fn", "Alias": "live", "CurrentVersion": "3", "TargetVersion": "4"},
    }
    assert wait[:3] == ["deploy", "wait", "deployment-successful"]
    assert option(wait, "--deployment-id") == "d-0123456789"


def test_a_rolled_back_shift_fails_the_apply(tmp_path: Path) -> None:
    """Fault tolerance of the deploy: a rollback is reported as a failed apply, not hidden."""
    status, _ = run_shift(tmp_path, current="3", target="4", wait_status=255)
    assert status != 0


def test_an_alias_already_on_the_new_version_starts_no_deployment(tmp_path: Path) -> None:
    """The first apply creates the alias on the first version: nothing to shift."""
    status, calls = run_shift(tmp_path, current="1", target="1")
    assert (status, calls) == (0, [])


# --- Props validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "has space"),
        ("name", "x" * 101),
        ("name", ""),
        ("alias", "123"),
        ("alias", "live/now"),
        ("alias", ""),
        ("deployment_config_name", "CodeDeployDefault.OneAtATime"),
        ("alarm_names", ()),
    ],
)
def test_each_bad_value_is_refused_by_name(field: str, value: object) -> None:
    """No alarm is the one refusal that matters most: a bad version would then never roll back."""
    values: dict[str, Any] = {"name": "blocks-canary", "region": "us-east-1", "alarm_names": ALARMS, field: value}
    with pytest.raises(ValueError, match=field):
        LambdaCanaryProps(**values)


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ValueError) as err:
        LambdaCanaryProps(name="", region="us-east-1", alias="1")
    for field in ("name", "alias", "alarm_names"):
        assert field in str(err.value)


@pytest.mark.parametrize("config", sorted(LAMBDA_DEPLOYMENT_CONFIGS))
def test_every_predefined_lambda_config_is_accepted(config: str) -> None:
    props = LambdaCanaryProps(name="c", region="us-east-1", alarm_names=ALARMS, deployment_config_name=config)
    assert props.deployment_config_name == config


@pytest.mark.parametrize("publish", [None, False])
def test_a_function_that_publishes_no_versions_is_refused_by_name(publish: bool | None) -> None:
    """Without versions the alias serves $LATEST: every change would reach all traffic at once."""
    import cdktf
    from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction

    from modules.blocks.lambda_canary import LambdaCanary

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "unpublished")
    function = LambdaFunction(
        stack,
        "function",
        function_name="f",
        role="arn:aws:iam::123456789012:role/f",
        filename="code.zip",
        handler="handler.handler",
        runtime="python3.12",
        publish=publish,  # None: unset
    )
    props = LambdaCanaryProps(name="blocks-canary", region="us-east-1", alarm_names=ALARMS)
    with pytest.raises(
        ValueError, match=rf"^LambdaCanary 'canary': function unpublished/function: publish={publish}: must be True"
    ):
        LambdaCanary(stack, "canary", props, function=function)
    assert not stack.node.try_find_child("canary"), "refused before anything is written"
