"""What only the account knows, checked at plan time: the postconditions in the synth, their
failures with their messages (on the emulator where it answers, else on a recorded AWS answer
through `terraform test`), and the dependencies on alarms named by string."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StackDoc, resources


def _quota_answer(value: float, account: str) -> dict[str, Any]:
    """Service Quotas' GetServiceQuota answer for Lambda's concurrent executions, in AWS's shape."""
    return {
        "Quota": {
            "ServiceCode": "lambda",
            "ServiceName": "AWS Lambda",
            "QuotaArn": f"arn:aws:servicequotas:us-east-1:{account}:lambda/L-B99A9384",
            "QuotaCode": "L-B99A9384",
            "QuotaName": "Concurrent executions",
            "Value": value,
            "Unit": "None",
            "Adjustable": True,
            "GlobalQuota": False,
        }
    }


# What a new account answers (10, as the issue found) and what AWS's default quota gives (1000).
RECORDED = {"new_account": _quota_answer(10.0, "123456789012"), "default": _quota_answer(1000.0, "")}
FLEET_TYPES = ("c7i.large", "c6i.large", "c6a.large", "c5.large", "c5a.large")  # the defaults
ZONES = ["use1-az1", "use1-az2", "use1-az4"]


def _data(doc: StackDoc, dtype: str) -> dict[str, dict[str, Any]]:
    return dict(doc.get("data", {}).get(dtype, {}))


def _messages(data: dict[str, Any]) -> list[str]:
    return [c["error_message"] for c in data["lifecycle"]["postcondition"]]


# --- in the synth ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "setting"),
    [
        ("ha-failover", "fleet.instance_types"),
        ("target-groups", "fleet.instance_types"),
        ("stream-analytics", "stream.instance_types"),
    ],
)
def test_every_fleet_checks_its_instance_types_in_its_zones(
    stacks: dict[str, StackDoc], stack: str, setting: str
) -> None:
    (offerings,) = _data(stacks[stack], "aws_ec2_instance_type_offerings").values()
    assert offerings["location_type"] == "availability-zone-id"
    filters = {f["name"]: f["values"] for f in offerings["filter"]}
    assert filters == {"instance-type": list(FLEET_TYPES), "location": ZONES}
    messages = _messages(offerings)
    assert len(messages) == len(FLEET_TYPES), "one postcondition per type"
    for itype, message in zip(FLEET_TYPES, messages, strict=True):
        assert message.startswith(f"{setting}: {itype} is not offered in every zone of zone_ids ")


def test_the_stacks_that_reserve_lambda_concurrency_check_the_account_quota(stacks: dict[str, StackDoc]) -> None:
    """The app's reservations together (event-processing 10, the canary controller 1), in both stacks."""
    reserved = {
        name: sum(f.get("reserved_concurrent_executions", 0) for f in resources(doc, "aws_lambda_function"))
        for name, doc in stacks.items()
    }
    assert {name: n for name, n in reserved.items() if n} == {"event-processing": 10, "target-groups": 1}
    for name in ("event-processing", "target-groups"):
        (quota,) = _data(stacks[name], "aws_servicequotas_service_quota").values()
        assert (quota["service_code"], quota["quota_code"]) == ("lambda", "L-B99A9384")
        (condition,) = quota["lifecycle"]["postcondition"]
        assert condition["condition"] == "${self.value - 11 >= 10}"
        assert "event_processing.reserved_concurrency (10)" in condition["error_message"]
        assert "outside these stacks are not counted" in condition["error_message"]


def test_the_emulator_synth_leaves_the_quota_read_out(emulator_stacks: dict[str, StackDoc]) -> None:
    """moto has no Lambda quotas: the read is left out there (tested below on a recorded answer)."""
    (quota,) = _data(emulator_stacks["event-processing"], "aws_servicequotas_service_quota").values()
    assert quota["count"] == 0


def _alarm_addresses(doc: StackDoc, names: list[str]) -> set[str]:
    by_name = {a["alarm_name"]: key for key, a in doc["resource"]["aws_cloudwatch_metric_alarm"].items()}
    assert set(names) <= by_name.keys(), "every name is an alarm of the stack"
    return {f"aws_cloudwatch_metric_alarm.{by_name[n]}" for n in names}


def test_the_ecs_service_is_created_after_the_alarms_it_names(stacks: dict[str, StackDoc]) -> None:
    doc = stacks["model-serving"]
    (service,) = doc["resource"]["aws_ecs_service"].values()
    named = _alarm_addresses(doc, service["alarms"]["alarm_names"])
    assert len(named) == 6 and named <= set(service["depends_on"])
    for address in named:  # no cycle: none of them reads the service back
        alarm = doc["resource"]["aws_cloudwatch_metric_alarm"][address.split(".", 1)[1]]
        assert "aws_ecs_service" not in json.dumps(alarm)


@pytest.mark.parametrize("stack", ["ha-failover", "target-groups"])
def test_each_group_is_created_after_its_instance_refresh_alarms(stacks: dict[str, StackDoc], stack: str) -> None:
    doc = stacks[stack]
    for group in doc["resource"]["aws_autoscaling_group"].values():
        names = group["instance_refresh"]["preferences"]["alarm_specification"]["alarms"]
        assert names and _alarm_addresses(doc, names) <= set(group.get("depends_on", []))


# --- failing, with their messages -----------------------------------------------------------


def _checks_app(outdir: Path, endpoint: str | None) -> Path:
    """A stack of the plan-time checks alone, given what AWS refuses: a zone id the region lacks,
    a type not offered in every zone (moto's catalogue: vt1.3xlarge), the default reservations."""
    from cdktf import App, LocalBackend, TerraformStack
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from modules.blocks.account_checks import instance_types_offered, lambda_concurrency_left, zones_exist
    from modules.patterns.account_limits import lambda_reservations
    from modules.stack import emulator
    from tests.conftest import settings_from

    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "checks")
    LocalBackend(stack, path="terraform.tfstate")
    pointing = {**emulator.provider_config(endpoint), **emulator.provider_adjustments()} if endpoint else {}
    AwsProvider(stack, "aws", region="us-east-1", **pointing)
    if endpoint:
        zones_exist(stack, "zones", zone_ids=["use1-az1", "use1-az2", "use1-az9"])
        instance_types_offered(
            stack,
            "types",
            instance_types=["c7i.large", "vt1.3xlarge"],
            zone_ids=ZONES,
            types_setting="fleet.instance_types",
            zones_setting="zone_ids",
        )
    else:
        lambda_concurrency_left(stack, "lambda", reserved=lambda_reservations(settings_from()))
    app.synth()
    return outdir / "stacks" / "checks"


@pytest.mark.slow
@pytest.mark.emulator
def test_on_the_emulator_a_wrong_zone_and_an_unoffered_type_fail_the_plan(tmp_path: Path) -> None:
    from tools.deploy.round_trip import emulator_settings, emulator_terraform
    from tools.harness.moto_server import MotoServer

    with MotoServer(tmp_path / "moto.log") as moto:
        stack_dir = _checks_app(tmp_path / "out", moto.endpoint)
        tf = emulator_terraform(emulator_settings(moto.endpoint, environ={}))
        tf.run(stack_dir, "init", "-input=false")
        plan = tf.run(stack_dir, "plan", "-input=false", check=False)
    errors = re.sub(r"\s+", " ", plan.stderr.replace("│", " "))
    assert plan.returncode == 1
    assert (
        "Not all of use1-az1, use1-az2, use1-az9 are regular availability zones of this region: set zone_ids" in errors
    )
    assert (
        "fleet.instance_types: vt1.3xlarge is not offered in every zone of zone_ids (use1-az1, use1-az2, use1-az4) "
        "in this account; it is in [use1-az1, use1-az2]." in errors
    ), errors
    assert "c7i.large is not offered" not in errors, "a type offered in every zone passes"


def _recorded_quota(label: str) -> float:
    answer = RECORDED[label]["Quota"]
    assert answer["QuotaCode"] == "L-B99A9384"
    return float(answer["Value"])


@pytest.mark.slow
def test_on_a_recorded_quota_an_over_reservation_fails_the_plan(tmp_path: Path) -> None:
    """moto cannot answer Lambda's quota: `terraform test` overrides the data source with the
    recorded answers of a new account (10) and of the default quota (1000)."""
    from tests.conftest import settings_from
    from tools.deploy.terraform import Terraform

    stack_dir = _checks_app(tmp_path / "out", None)
    runs = []
    # The passing run first: Terraform skips the runs after a failed one.
    for label in ("default", "new_account"):
        value = _recorded_quota(label)
        runs.append(
            f'run "{label}" {{\n  command = plan\n  override_data {{\n'
            f"    target = data.aws_servicequotas_service_quota.lambda\n    values = {{ value = {value} }}\n  }}\n}}\n"
        )
    (stack_dir / "quota.tftest.hcl").write_text('mock_provider "aws" {}\n' + "".join(runs))
    tf = Terraform(settings_from())
    tf.run(stack_dir, "init", "-input=false", "-backend=false")
    result = tf.run(stack_dir, "test", check=False)
    out = re.sub(r"\s+", " ", (result.stdout + result.stderr).replace("│", " "))
    assert 'run "new_account"... fail' in out and 'run "default"... pass' in out, out
    assert (
        "Lambda concurrency: event_processing.reserved_concurrency (10), the target-groups canary controller (1) "
        "reserve 11 of this account's 10 concurrent executions in this region, leaving -1;" in out
    )
