"""stream-analytics on the emulator with both fleet kinds: apply, smoke test, no drift, destroy.

The smoke test runs the real worker as a process against what Terraform deployed (the
KMS-encrypted stream, the lease table's key schema, the FIFO DLQ, the results bucket):
events and poison records go in, results and DLQ messages come out.
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modules.config import Settings
from tools.deploy.round_trip import aws_client, emulator_settings, emulator_terraform, round_trip
from tools.deploy.terraform import Terraform
from tools.harness.moto_server import MotoServer
from tools.harness.stream_harness import POISON, StreamRig, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.emulator]


def outputs(tf: Terraform, stack_dir: Path) -> dict[str, str]:
    raw = json.loads(tf.run(stack_dir, "output", "-json").stdout)
    return {k: v["value"] for k, v in raw.items()}


def smoke(tf: Terraform, emu: Settings, stack_dir: Path, tmp_path: Path, fleet_kind: str) -> None:
    out = outputs(tf, stack_dir)
    kinesis, ddb, sqs = (aws_client(s, emu) for s in ("kinesis", "dynamodb", "sqs"))
    summary = kinesis.describe_stream_summary(StreamName=out["stream_name"])["StreamDescriptionSummary"]
    assert summary["EncryptionType"] == "KMS"
    backups = ddb.describe_continuous_backups(TableName=out["lease_table_name"])["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    attributes = sqs.get_queue_attributes(QueueUrl=out["dlq_url"], AttributeNames=["All"])["Attributes"]
    assert attributes["FifoQueue"] == "true" and "KmsMasterKeyId" in attributes
    if fleet_kind == "asg":
        (group,) = aws_client("autoscaling", emu).describe_auto_scaling_groups(AutoScalingGroupNames=[out["fleet_id"]])[
            "AutoScalingGroups"
        ]
        assert group["CapacityRebalance"] is True and "MixedInstancesPolicy" in group
    else:
        assert out["fleet_id"].startswith("sfr-")

    rig = StreamRig(
        emu.emulator_endpoint,
        tmp_path,
        existing={
            "stream": out["stream_name"],
            "table": out["lease_table_name"],
            "bucket": out["results_bucket_name"],
            "dlq_url": out["dlq_url"],
        },
    )
    ids = rig.put_events(100)
    poison = rig.put(POISON)
    try:
        rig.start_worker()
        wait_for(lambda: set(ids) <= set(rig.result_ids()), 60, 0.5, "results in the deployed bucket")
        wait_for(lambda: rig.all_checkpointed(), 30, 0.2, "checkpoints in the deployed table")
    finally:
        rig.stop_all()
    assert len(rig.dlq_messages()) == poison
    assert sorted(rig.result_ids()) == sorted(ids)


FLEET_KINDS = ("spot_fleet", "asg")
# The stack alone, with its own VPC: the shared network's round trip is make deploy-local's
# (tests/test_emulator_round_trip.py), and a stack's own VPC is covered here.
PER_STACK = {"RAI_NETWORK_MODE": "per_stack"}


def test_stream_analytics_applies_processes_converges_and_destroys_with_both_fleet_kinds(tmp_path: Path) -> None:
    """Both fleet kinds at once, each on its own moto server: the provider's waits overlap."""
    from modules.app import synth

    with contextlib.ExitStack() as stack:
        runs = []
        for kind in FLEET_KINDS:  # synth (jsii) in this thread only: it is not thread-safe
            moto = stack.enter_context(MotoServer(tmp_path / f"moto-{kind}.log"))
            emu = emulator_settings(
                moto.endpoint, environ={"RAI_STREAM_FLEET_KIND": kind, "RAI_AZ_COUNT": "2", **PER_STACK}
            )
            synth(emu, tmp_path / kind, only=["stream-analytics"])
            runs.append((kind, emu, tmp_path / kind / "stacks" / "stream-analytics"))
            aws_client("s3", emu)  # boto3's default session set up before the threads share it

        def run(kind: str, emu: Settings, stack_dir: Path) -> str:
            tf = emulator_terraform(emu)
            work = tmp_path / f"work-{kind}"
            work.mkdir()
            result = round_trip(tf, emu, stack_dir, lambda: smoke(tf, emu, stack_dir, work, kind))
            assert not aws_client("kinesis", emu).list_streams()["StreamNames"], f"{kind}: destroy left the stream"
            return f"{kind}: {result}"

        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            for line in pool.map(lambda r: run(*r), runs):
                print(line)
