"""ha-failover and target-groups on the emulator: apply, what was deployed, no drift, destroy.

Each stack on its own moto server (they can run concurrently), with the default settings
over 2 AZs (single region, no hosted zone: the second-region variant is covered by the
synth matchers and `terraform validate`). After apply, the smoke check reads back from
the emulator's APIs what makes the fleet heal itself: ELB health checks behind the
target group(s), the mixed instances policy, the drain hook, the scaling policies and
the weighted forward.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modules.architectures.target_groups.settings import TargetGroupsSettings
from modules.config import Settings
from tools.deploy.round_trip import aws_client, emulator_settings, emulator_terraform, round_trip
from tools.deploy.terraform import Terraform
from tools.harness.moto_server import MotoServer

pytestmark = [pytest.mark.slow, pytest.mark.emulator]


def outputs(tf: Terraform, stack_dir: Path) -> dict[str, str]:
    raw = json.loads(tf.run(stack_dir, "output", "-json").stdout)
    return {k: v["value"] for k, v in raw.items()}


def check_group(emu: Settings, name: str, target_group_arn: str) -> None:
    autoscaling = aws_client("autoscaling", emu)
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    assert group["HealthCheckType"] == "ELB" and group["HealthCheckGracePeriod"] > 0
    assert group["TargetGroupARNs"] == [target_group_arn]
    assert group["CapacityRebalance"] is True and "MixedInstancesPolicy" in group
    assert len({s for s in group["VPCZoneIdentifier"].split(",")}) >= 2
    hooks = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
    assert [h["LifecycleTransition"] for h in hooks] == ["autoscaling:EC2_INSTANCE_TERMINATING"]
    policies = autoscaling.describe_policies(AutoScalingGroupName=name)["ScalingPolicies"]
    configs = [p["TargetTrackingConfiguration"] for p in policies]
    metrics = {
        c["PredefinedMetricSpecification"]["PredefinedMetricType"]
        for c in configs
        if "PredefinedMetricSpecification" in c
    }
    assert metrics == {"ASGAverageCPUUtilization", "ALBRequestCountPerTarget"}
    # And its servers' own in-flight calls, published as the group's name (its prefix).
    (own,) = [c["CustomizedMetricSpecification"] for c in configs if "CustomizedMetricSpecification" in c]
    (dimension,) = own["Dimensions"]
    assert (own["MetricName"], own["Namespace"], own["Statistic"]) == (
        "InFlight",
        emu.server_metrics.namespace,
        "Average",
    )
    assert dimension["Name"] == "Service" and name.startswith(f"{dimension['Value']}-")


def check_target_group(emu: Settings, arn: str, interval_s: int) -> None:
    (group,) = aws_client("elbv2", emu).describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    assert group["HealthCheckPath"] == "/v2/health/ready" and group["HealthCheckIntervalSeconds"] == interval_s
    assert group["TargetType"] == "instance"


def smoke_ha(tf: Terraform, emu: Settings, stack_dir: Path) -> None:
    out = outputs(tf, stack_dir)
    assert out["alb_url"].startswith("http://")
    check_target_group(emu, out["target_group_arn"], emu.ha_failover.health_check_interval_s)
    check_group(emu, out["asg_name"], out["target_group_arn"])


def smoke_tg(tf: Terraform, emu: Settings, stack_dir: Path) -> None:
    out = outputs(tf, stack_dir)
    interval_s = emu.section(TargetGroupsSettings).health_check_interval_s
    for key in ("stable", "canary"):
        check_target_group(emu, out[f"{key}_target_group_arn"], interval_s)
        check_group(emu, out[f"{key}_asg_name"], out[f"{key}_target_group_arn"])
    elbv2 = aws_client("elbv2", emu)
    (lb,) = elbv2.describe_load_balancers()["LoadBalancers"]
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    (action,) = listener["DefaultActions"]
    weights = {g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}
    assert weights == {out["stable_target_group_arn"]: 90, out["canary_target_group_arn"]: 10}


SMOKES: dict[str, Callable[[Terraform, Settings, Path], None]] = {"ha-failover": smoke_ha, "target-groups": smoke_tg}


def test_fleet_stacks_apply_heal_themselves_converge_and_destroy(tmp_path: Path) -> None:
    from modules.app import synth

    with contextlib.ExitStack() as stack:
        runs = []
        for name in SMOKES:  # synth (jsii) in this thread only: it is not thread-safe
            moto = stack.enter_context(MotoServer(tmp_path / f"moto-{name}.log"))
            # Each its own VPC (per_stack): the stacks alone, each on its own emulator.
            emu = emulator_settings(moto.endpoint, environ={"RAI_AZ_COUNT": "2", "RAI_NETWORK_MODE": "per_stack"})
            synth(emu, tmp_path / name, only=[name])
            runs.append((name, emu, tmp_path / name / "stacks" / name))
            aws_client("s3", emu)  # boto3's default session set up before the threads share it

        def run(name: str, emu: Settings, stack_dir: Path) -> str:
            tf = emulator_terraform(emu)
            result = round_trip(tf, emu, stack_dir, lambda: SMOKES[name](tf, emu, stack_dir))
            groups = aws_client("autoscaling", emu).describe_auto_scaling_groups()["AutoScalingGroups"]
            assert not groups, f"{name}: destroy left {[g['AutoScalingGroupName'] for g in groups]}"
            return str(result)

        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            for line in pool.map(lambda r: run(*r), runs):
                print(line)
