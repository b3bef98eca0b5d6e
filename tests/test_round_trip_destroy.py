"""The round trip's destroy: one retry when every error is a delete the emulator answered
with "not found" (the object is gone), no other."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tools.deploy.round_trip import RoundTrip, destroy, emulator_loss
from tools.deploy.terraform import TerraformError


class ScriptedTerraform:
    """Answers each `terraform destroy` with the next scripted (returncode, output)."""

    def __init__(self, answers: list[tuple[int, str]]) -> None:
        self.answers, self.calls = answers, 0

    def run(self, stack_dir: Path, *args: str, check: bool = True, **_: Any) -> subprocess.CompletedProcess[str]:
        code, out = self.answers[self.calls]
        self.calls += 1
        proc = subprocess.CompletedProcess(["terraform", *args], code, out, "")
        if check and code != 0:
            raise TerraformError(stack_dir.name, args, proc)
        return proc


LISTENER = (
    "Error: deleting ELBv2 Listener (arn:aws:elasticloadbalancing:...): operation error Elastic Load Balancing v2: "
    "DeleteListener, https response error StatusCode: 400, ListenerNotFound: The specified listener does not exist."
)
RULE = """Error: deleting VPC Security Group Rule (sgr-1)

  with aws_vpc_security_group_ingress_rule.alb_http,
  on cdk.tf.json line 120, in resource "aws_vpc_security_group_ingress_rule" "alb_http":
 120:       },

operation error EC2: RevokeSecurityGroupIngress, https response error StatusCode: 400, RequestID: 1, api error
InvalidPermission.NotFound: The specified rule does not exist in this security group.
"""


@pytest.mark.parametrize(
    ("output", "lost"),
    [
        (RULE, "VPC Security Group Rule"),
        (f"aws_lb.x: Destroying...\n\n{LISTENER}\n", "ELBv2 Listener"),
        (f"{LISTENER}\nError: deleting S3 Bucket (b): NoSuchBucket: gone", "ELBv2 Listener, S3 Bucket"),
    ],
)
def test_a_delete_answered_not_found_is_destroyed_again_and_reported(tmp_path: Path, output: str, lost: str) -> None:
    tf = ScriptedTerraform([(1, output), (0, "Destroy complete!")])
    result, logged = RoundTrip("stack"), list[str]()
    destroy(tf, tmp_path, result, log=logged.append)  # type: ignore[arg-type]
    assert tf.calls == 2 and result.retries == ["destroy"] and "again: destroy" in str(result)
    assert f"already lost: {lost};" in logged[0]


@pytest.mark.parametrize(
    "output",
    [
        f"{LISTENER}\nError: deleting S3 Bucket (b): BucketNotEmpty: not empty",  # one real failure among them
        "Error: reading ELBv2 Listener (arn): ListenerNotFound",  # not a delete
        "Error: deleting ELBv2 Listener (arn): ResourceInUse",  # a delete that did not find it gone
        f"Error: reading ELBv2 Listener (arn)\n\nsome detail\n{RULE}",  # the not-found is in another error
        "exit status 1 without an Error line",
    ],
)
def test_anything_but_deletes_of_what_is_gone_is_not_an_emulator_loss(output: str) -> None:
    assert emulator_loss(output) is None


def test_any_other_destroy_failure_fails_at_once(tmp_path: Path) -> None:
    tf = ScriptedTerraform([(1, "Error: deleting S3 Bucket: BucketNotEmpty"), (0, "")])
    with pytest.raises(TerraformError, match="BucketNotEmpty"):
        destroy(tf, tmp_path, RoundTrip("stack"), log=lambda _: None)  # type: ignore[arg-type]
    assert tf.calls == 1


def test_a_second_failure_is_not_retried_again(tmp_path: Path) -> None:
    tf = ScriptedTerraform([(1, LISTENER), (1, LISTENER), (0, "")])
    with pytest.raises(TerraformError):
        destroy(tf, tmp_path, RoundTrip("stack"), log=lambda _: None)  # type: ignore[arg-type]
    assert tf.calls == 2


# --- the real thing: Terraform and moto ---------------------------------------------------


class SkipFirstRefresh:
    """The first destroy goes out without a refresh, so what was deleted behind Terraform's
    back is still in its state: the race the retry is for, made certain."""

    def __init__(self, tf: Any) -> None:
        self.tf, self.first = tf, True

    def run(self, stack_dir: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if args[0] == "destroy" and self.first:
            self.first, args = False, (*args, "-refresh=false")
        return self.tf.run(stack_dir, *args, **kwargs)  # type: ignore[no-any-return]


def lb_config(endpoint: str) -> dict[str, Any]:
    """A security group with one ingress rule, and an ALB listener: one object of each
    kind that moto has been seen to lose."""
    vpc, sg = "${aws_vpc.v.id}", "${aws_security_group.sg.id}"
    return {
        "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws", "version": "5.100.0"}}},
        "provider": {"aws": [{
            "region": "us-east-1", "access_key": "testing", "secret_key": "testing",
            "skip_credentials_validation": True, "skip_requesting_account_id": True,
            "skip_region_validation": True, "skip_metadata_api_check": "true",
            "endpoints": [{service: endpoint for service in ("ec2", "elbv2", "iam", "sts")}],
        }]},
        "resource": {
            "aws_vpc": {"v": {"cidr_block": "10.0.0.0/16"}},
            "aws_subnet": {
                az: {"vpc_id": vpc, "cidr_block": f"10.0.{i}.0/24", "availability_zone": f"us-east-1{az}"}
                for i, az in enumerate("ab")
            },
            "aws_security_group": {"sg": {"vpc_id": vpc, "name": "sg"}},
            "aws_vpc_security_group_ingress_rule": {"http": {
                "security_group_id": sg, "cidr_ipv4": "0.0.0.0/0", "from_port": 80, "to_port": 80, "ip_protocol": "tcp",
            }},
            "aws_lb": {"lb": {"name": "lb", "subnets": ["${aws_subnet.a.id}", "${aws_subnet.b.id}"],
                              "security_groups": [sg]}},
            "aws_lb_target_group": {"tg": {"name": "tg", "port": 80, "protocol": "HTTP", "vpc_id": vpc}},
            "aws_lb_listener": {"http": {
                "load_balancer_arn": "${aws_lb.lb.arn}", "port": 80, "protocol": "HTTP",
                "default_action": [{"type": "forward", "target_group_arn": "${aws_lb_target_group.tg.arn}"}],
            }},
        },
    }  # fmt: skip


@pytest.mark.slow
@pytest.mark.emulator
def test_on_the_emulator_a_destroy_whose_objects_vanished_is_finished(tmp_path: Path) -> None:
    """A rule and a listener deleted between the refresh and the delete: Terraform's real
    errors (one on a line, one over several) are recognized, and the second destroy ends clean."""
    from tools.deploy.round_trip import aws_client, emulator_settings, emulator_terraform
    from tools.harness.moto_server import MotoServer

    with MotoServer(tmp_path / "moto.log") as moto:
        emu = emulator_settings(moto.endpoint, environ={})
        stack = tmp_path / "stack"
        stack.mkdir()
        (stack / "main.tf.json").write_text(json.dumps(lb_config(moto.endpoint)))
        tf = emulator_terraform(emu)
        tf.run(stack, "init", "-input=false")
        tf.run(stack, "apply", "-auto-approve", "-input=false")
        ec2, elbv2 = aws_client("ec2", emu), aws_client("elbv2", emu)
        (rule,) = [r for r in ec2.describe_security_group_rules()["SecurityGroupRules"] if r.get("FromPort") == 80]
        ec2.revoke_security_group_ingress(GroupId=rule["GroupId"], SecurityGroupRuleIds=[rule["SecurityGroupRuleId"]])
        (lb,) = elbv2.describe_load_balancers()["LoadBalancers"]
        (listener,) = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        elbv2.delete_listener(ListenerArn=listener["ListenerArn"])

        result, logged = RoundTrip("stack"), list[str]()
        destroy(SkipFirstRefresh(tf), stack, result, log=logged.append)  # type: ignore[arg-type]
        assert result.retries == ["destroy"]
        assert "already lost: ELBv2 Listener, VPC Security Group Rule;" in logged[0]
        assert not elbv2.describe_load_balancers()["LoadBalancers"]
        assert json.loads(tf.run(stack, "show", "-json").stdout).get("values") is None, "state is empty"
