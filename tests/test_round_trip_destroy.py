"""The round trip's destroy: one retry when every error is a delete the emulator answered
with "not found" (the object is gone), no other."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from modules.tooling.round_trip import RoundTrip, destroy, emulator_loss
from modules.tooling.terraform import TerraformError


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
RULE = "Error: deleting VPC Security Group Rule (sgr-1): InvalidPermission.NotFound: no such rule"


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
