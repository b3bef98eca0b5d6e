"""Plan review: counts and stateful replacements from a plan's JSON, and on the emulator
a change that forces the replacement of the state bucket."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tools.deploy.plan_review import RED, review, summary

PLAN = {
    "resource_changes": [
        {
            "address": "aws_sqs_queue.q",
            "type": "aws_sqs_queue",
            "mode": "managed",
            "change": {"actions": ["delete", "create"], "replace_paths": [["name"]]},
        },
        {
            "address": "aws_iam_role.r",
            "type": "aws_iam_role",
            "mode": "managed",
            "change": {"actions": ["create", "delete"], "replace_paths": [["inline_policy", 0, "name"]]},
        },
        {"address": "aws_sns_topic.t", "type": "aws_sns_topic", "mode": "managed", "change": {"actions": ["update"]}},
        {"address": "aws_kms_key.k", "type": "aws_kms_key", "mode": "managed", "change": {"actions": ["create"]}},
        {
            "address": "aws_s3_bucket.gone",
            "type": "aws_s3_bucket",
            "mode": "managed",
            "change": {"actions": ["delete"]},
        },
        {"address": "aws_s3_bucket.same", "type": "aws_s3_bucket", "mode": "managed", "change": {"actions": ["no-op"]}},
        {"address": "data.aws_region.r", "type": "aws_region", "mode": "data", "change": {"actions": ["read"]}},
    ]
}


def test_counts_match_terraform_and_stateful_replacements_come_first_in_red() -> None:
    result = review("probe", PLAN)
    text = summary(result, color=True)
    lines = text.splitlines()
    assert lines[0] == "probe: 3 to add, 1 to change, 3 to destroy (2 replaced, 1 of them stateful)"
    assert lines[1].startswith(RED) and "REPLACES STATEFUL aws_sqs_queue.q: forced by name" in lines[1]
    assert lines[2] == "  replaces aws_iam_role.r: forced by inline_policy[0].name"


def test_without_color_there_are_no_escape_codes() -> None:
    assert "\033" not in summary(review("probe", PLAN), color=False)


@pytest.mark.slow
@pytest.mark.emulator
def test_on_the_emulator_renaming_the_state_bucket_is_flagged_as_a_stateful_replacement(tmp_path: Path) -> None:
    """Deploy the `state` stack's bucket, synthesize the stack again with another bucket
    name, plan: the bucket (stateful) is replaced, forced by `bucket`; the plan JSON also
    feeds the scorecard. Only the bucket is applied (`-target`): the rest of the stack is
    not what is under test, and its lifecycle rule alone costs a minute of provider waits
    on the emulator."""
    from modules.app import synth
    from modules.policy.document import from_plan
    from tools.deploy.plan_review import plan_stack
    from tools.deploy.round_trip import emulator_settings, emulator_terraform
    from tools.docs.measures.protection import encryption
    from tools.harness.moto_server import MotoServer

    with MotoServer(tmp_path / "moto.log") as moto:
        before = emulator_settings(moto.endpoint, environ={})
        after = emulator_settings(moto.endpoint, environ={"RAI_STATE_BUCKET": "resilient-ai-renamed-state"})
        tf = emulator_terraform(before)
        synth(before, tmp_path / "before", only=["state"])
        applied = tmp_path / "before" / "stacks" / "state"
        tf.run(applied, "init", "-input=false")
        bucket = "-target=aws_s3_bucket.bucket_3056591E"
        tf.run(applied, "apply", "-auto-approve", "-input=false", bucket)
        try:
            synth(after, tmp_path / "after", only=["state"])
            changed = tmp_path / "after" / "stacks" / "state"
            shutil.copy(applied / "terraform.state.tfstate", changed / "terraform.state.tfstate")
            result = plan_stack(tf, changed)
        finally:
            tf.run(applied, "destroy", "-auto-approve", "-input=false", bucket)
    assert [(r.address, r.forced_by) for r in result.stateful_replacements] == [
        ("aws_s3_bucket.bucket_3056591E", ("bucket",))
    ]
    assert "REPLACES STATEFUL aws_s3_bucket.bucket_3056591E: forced by bucket" in summary(result, color=False)
    plan = json.loads((changed / "plan.json").read_text())
    assert encryption(from_plan("state", plan)).value == "1 of 1 data stores (1 with KMS)"
