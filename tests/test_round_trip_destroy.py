"""The round trip's destroy: one retry when the emulator lost what is being deleted, no other."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from modules.tooling.round_trip import EMULATOR_LOSSES, RoundTrip, destroy
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


@pytest.mark.parametrize(
    "error",
    [
        "Error: deleting VPC Security Group Rule: InvalidPermission.NotFound",
        "Error: deleting ELBv2 Listener (arn:...): ListenerNotFound: The specified listener does not exist.",
    ],
)
def test_what_the_emulator_lost_is_destroyed_again_and_reported(tmp_path: Path, error: str) -> None:
    tf = ScriptedTerraform([(1, error), (0, "Destroy complete!")])
    result, logged = RoundTrip("stack"), list[str]()
    destroy(tf, tmp_path, result, log=logged.append)  # type: ignore[arg-type]
    assert tf.calls == 2 and result.retries == ["destroy"] and "again: destroy" in str(result)
    assert "already lost" in logged[0] and any(what in logged[0] for what in EMULATOR_LOSSES.values())


def test_any_other_destroy_failure_fails_at_once(tmp_path: Path) -> None:
    tf = ScriptedTerraform([(1, "Error: deleting S3 Bucket: BucketNotEmpty"), (0, "")])
    with pytest.raises(TerraformError, match="BucketNotEmpty"):
        destroy(tf, tmp_path, RoundTrip("stack"), log=lambda _: None)  # type: ignore[arg-type]
    assert tf.calls == 1


def test_a_second_failure_is_not_retried_again(tmp_path: Path) -> None:
    tf = ScriptedTerraform([(1, "ListenerNotFound"), (1, "ListenerNotFound"), (0, "")])
    with pytest.raises(TerraformError):
        destroy(tf, tmp_path, RoundTrip("stack"), log=lambda _: None)  # type: ignore[arg-type]
    assert tf.calls == 2
