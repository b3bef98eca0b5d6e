"""The round trip's destroy: one retry for the emulator's lost security-group rule, no other."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from modules.tooling.round_trip import LOST_RULE, RoundTrip, destroy
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


def test_a_lost_security_group_rule_is_destroyed_again_and_reported(tmp_path: Path) -> None:
    tf = ScriptedTerraform([(1, f"Error: deleting VPC Security Group Rule: {LOST_RULE}"), (0, "Destroy complete!")])
    result = RoundTrip("stack")
    destroy(tf, tmp_path, result, log=lambda _: None)  # type: ignore[arg-type]
    assert tf.calls == 2 and result.retries == ["destroy"] and "again: destroy" in str(result)


def test_any_other_destroy_failure_fails_at_once(tmp_path: Path) -> None:
    tf = ScriptedTerraform([(1, "Error: deleting S3 Bucket: BucketNotEmpty"), (0, "")])
    with pytest.raises(TerraformError, match="BucketNotEmpty"):
        destroy(tf, tmp_path, RoundTrip("stack"), log=lambda _: None)  # type: ignore[arg-type]
    assert tf.calls == 1


def test_a_second_failure_is_not_retried_again(tmp_path: Path) -> None:
    tf = ScriptedTerraform([(1, LOST_RULE), (1, LOST_RULE), (0, "")])
    with pytest.raises(TerraformError):
        destroy(tf, tmp_path, RoundTrip("stack"), log=lambda _: None)  # type: ignore[arg-type]
    assert tf.calls == 2
