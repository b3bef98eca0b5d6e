"""The `stream-analytics` stack: what keeps the stream processed when spot instances vanish."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modules.architectures.stream_analytics.observability import LEASE_OPERATIONS, METRIC_NAMESPACE
from modules.architectures.stream_analytics.stack import WORKER_DIR
from modules.blocks.instance_template import AL2023_X86_64, InstanceTemplateProps, user_data
from modules.config import SettingsError
from tests.conftest import PROD_ALARMS, StackDoc, load_stacks, one, private_subnet_refs, resources, settings_from

ALT_ENV = {
    "RAI_STREAM_FLEET_KIND": "asg",
    "RAI_STREAM_CAPACITY_MODE": "provisioned",
    "RAI_STREAM_SHARD_COUNT": "6",
    "RAI_STREAM_RETENTION_HOURS": "168",
    "RAI_STREAM_ALLOCATION_STRATEGY": "price-capacity-optimized",
    "RAI_STREAM_TARGET_CAPACITY": "4",
    "RAI_STREAM_ON_DEMAND_COUNT": "1",
    "RAI_AZ_COUNT": "2",
}


@pytest.fixture(scope="module")
def alt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """stream-analytics with an ASG fleet, a provisioned stream and other non-default settings."""
    from modules.app import synth

    outdir = tmp_path_factory.mktemp("stream-alt") / "cdktf.out"
    synth(settings_from(ALT_ENV), outdir, only=["stream-analytics"])
    return outdir


@pytest.fixture(scope="module")
def alt(alt_dir: Path) -> StackDoc:
    return load_stacks(alt_dir)["stream-analytics"]


@pytest.fixture
def sa(stacks: dict[str, StackDoc]) -> StackDoc:
    return stacks["stream-analytics"]


def ref(doc: StackDoc, rtype: str, attr: str) -> str:
    """``${<rtype>.<name>.<attr>}`` of the one resource of ``rtype``."""
    (name,) = doc["resource"][rtype]
    return f"${{{rtype}.{name}.{attr}}}"


def by_name(doc: StackDoc, rtype: str) -> dict[str, dict[str, Any]]:
    return dict(doc["resource"].get(rtype, {}))


WORKER_SIDS = (
    "ReadArtifact",
    "ReadThisStream",
    "LeasesInThisTable",
    "WriteResults",
    "DeleteSupersededSnapshots",
    "SendPoisonRecords",
    "UseTheDataKey",
    "WorkerMetricsOnly",
    "WriteWorkerLogs",
)


def worker_policy(doc: StackDoc) -> list[dict[str, Any]]:
    (policy,) = [p for p in resources(doc, "aws_iam_role_policy") if "ReadArtifact" in p["policy"]]
    return list(json.loads(policy["policy"])["Statement"])


# --- stream ---------------------------------------------------------------------------------


def test_stream_is_kms_encrypted_with_the_stack_key(sa: StackDoc) -> None:
    stream = one(sa, "aws_kinesis_stream")
    assert stream["encryption_type"] == "KMS"
    assert stream["kms_key_id"] == ref(sa, "aws_kms_key", "arn")


def test_stream_is_on_demand_by_default_so_it_scales_without_resharding_by_hand(sa: StackDoc) -> None:
    stream = one(sa, "aws_kinesis_stream")
    assert stream["stream_mode_details"] == {"stream_mode": "ON_DEMAND"}
    assert "shard_count" not in stream
    assert stream["retention_period"] == 24


def test_provisioned_stream_takes_shards_and_retention_from_settings(alt: StackDoc) -> None:
    stream = one(alt, "aws_kinesis_stream")
    assert stream["stream_mode_details"] == {"stream_mode": "PROVISIONED"}
    assert (stream["shard_count"], stream["retention_period"]) == (6, 168)


def test_shard_level_metrics_cover_iterator_age_and_throttling(sa: StackDoc) -> None:
    metrics = set(one(sa, "aws_kinesis_stream")["shard_level_metrics"])
    assert {"IteratorAgeMilliseconds", "ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded"} <= (
        metrics
    )


# --- state and sinks -------------------------------------------------------------------------


def test_lease_table_is_on_demand_with_pitr_and_kms(sa: StackDoc) -> None:
    table = one(sa, "aws_dynamodb_table")
    assert table["billing_mode"] == "PAY_PER_REQUEST"  # a lease storm is never throttled by capacity
    assert table["hash_key"] == "lease_key"
    assert table["point_in_time_recovery"] == {"enabled": True}
    assert table["server_side_encryption"] == {"enabled": True, "kms_key_arn": ref(sa, "aws_kms_key", "arn")}


def test_lease_table_is_deletion_protected_in_prod_only(sa: StackDoc) -> None:
    from modules.app import build_app

    assert one(sa, "aws_dynamodb_table")["deletion_protection_enabled"] is False
    settings = settings_from({"RAI_ENVIRONMENT": "prod", **PROD_ALARMS})
    app = build_app(settings, Path("/nonexistent"), only=["stream-analytics"])
    table = next(c for c in app.node.find_all() if c.node.id == "leases")
    assert table.deletion_protection_enabled_input is True  # type: ignore[attr-defined]


def test_results_bucket_is_versioned_kms_encrypted_private_and_tls_only(sa: StackDoc) -> None:
    buckets = by_name(sa, "aws_s3_bucket")
    (results,) = [n for n in buckets if n.startswith("results")]
    mine = f"${{aws_s3_bucket.{results}.id}}"
    assert any(
        v["bucket"] == mine and v["versioning_configuration"]["status"] == "Enabled"
        for v in resources(sa, "aws_s3_bucket_versioning")
    )
    (sse,) = [e for e in resources(sa, "aws_s3_bucket_server_side_encryption_configuration") if e["bucket"] == mine]
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    (pab,) = [p for p in resources(sa, "aws_s3_bucket_public_access_block") if p["bucket"] == mine]
    assert all(
        pab[k] for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    (policy,) = [p for p in resources(sa, "aws_s3_bucket_policy") if p["bucket"] == mine]
    assert "aws:SecureTransport" in policy["policy"]


def test_dlq_is_a_kms_encrypted_fifo_queue_that_dedups_replayed_poison(sa: StackDoc) -> None:
    dlq = by_name(sa, "aws_sqs_queue")["dlq"]
    assert dlq["fifo_queue"] is True and dlq["name"].endswith(".fifo")
    assert dlq["kms_master_key_id"] == ref(sa, "aws_kms_key", "arn")
    assert dlq["message_retention_seconds"] == 14 * 86400


# --- worker instances ------------------------------------------------------------------------


def test_launch_template_uses_the_al2023_ssm_parameter_not_a_fixed_ami(sa: StackDoc) -> None:
    (param,) = sa["data"]["aws_ssm_parameter"].values()
    assert param["name"] == AL2023_X86_64
    assert one(sa, "aws_launch_template")["image_id"].startswith("${data.aws_ssm_parameter.")


def test_launch_template_requires_imdsv2_with_hop_limit_1(sa: StackDoc) -> None:
    options = one(sa, "aws_launch_template")["metadata_options"]
    assert options == {"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1}


def test_root_volume_is_encrypted_gp3_deleted_with_the_instance(sa: StackDoc) -> None:
    (device,) = one(sa, "aws_launch_template")["block_device_mappings"]
    assert device["ebs"]["encrypted"] == "true" and device["ebs"]["volume_type"] == "gp3"
    assert device["ebs"]["delete_on_termination"] == "true"


def test_instances_have_a_profile_detailed_monitoring_and_tags(sa: StackDoc) -> None:
    template = one(sa, "aws_launch_template")
    assert template["iam_instance_profile"]["arn"] == ref(sa, "aws_iam_instance_profile", "arn")
    assert template["monitoring"] == {"enabled": True}
    assert {t["resource_type"] for t in template["tag_specifications"]} == {"instance", "volume", "network-interface"}


def test_user_data_runs_the_uploaded_worker_artifact_as_a_restarting_service(sa: StackDoc) -> None:
    artifact = one(sa, "aws_s3_object")
    assert re.fullmatch(r"artifacts/stream-worker/[0-9A-F]{32}\.zip", artifact["key"]), "content hash in the key"
    assert artifact["source"].endswith(".zip") and artifact["bucket"].startswith("${aws_s3_bucket.artifacts")
    script = one(sa, "aws_launch_template")["user_data"]
    assert script.startswith("${base64encode(")
    for needed in (
        "aws s3 cp",
        "Restart=always",
        "python3.11 -m stream_worker",
        "systemctl enable --now stream-worker",
        "STREAM_NAME='resilient-ai-dev-stream'",
        "DLQ_URL='${aws_sqs_queue.",
    ):
        assert needed in script, needed


def test_workers_accept_no_inbound_traffic(sa: StackDoc) -> None:
    assert not resources(sa, "aws_vpc_security_group_ingress_rule")
    assert "ingress" not in one(sa, "aws_security_group")
    (egress,) = [e for e in resources(sa, "aws_vpc_security_group_egress_rule") if "workers" in e["security_group_id"]]
    assert (egress["from_port"], egress["to_port"]) == (443, 443)


# --- fleet -----------------------------------------------------------------------------------


def test_spot_fleet_maintains_capacity_optimized_with_rebalance_and_replacement(sa: StackDoc) -> None:
    fleet = one(sa, "aws_spot_fleet_request")
    assert fleet["fleet_type"] == "maintain"
    assert fleet["allocation_strategy"] == "capacityOptimized"
    assert fleet["replace_unhealthy_instances"] is True
    assert fleet["spot_maintenance_strategies"] == {"capacity_rebalance": {"replacement_strategy": "launch"}}
    assert fleet["terminate_instances_with_expiration"] is True
    assert fleet["terminate_instances_on_delete"] == "true"
    assert fleet["target_capacity"] == 3


def test_spot_fleet_spreads_over_several_instance_types_in_private_subnets_of_every_az(sa: StackDoc) -> None:
    (config,) = one(sa, "aws_spot_fleet_request")["launch_template_config"]
    assert config["launch_template_specification"]["id"] == ref(sa, "aws_launch_template", "id")
    subnets = {o["subnet_id"] for o in config["overrides"]}
    types = {o["instance_type"] for o in config["overrides"]}
    private = private_subnet_refs(sa)
    assert subnets == private and len(private) == 3
    assert len(types) >= 2 and len(config["overrides"]) == len(subnets) * len(types)


def test_spot_fleet_role_has_the_aws_managed_tagging_policy(sa: StackDoc) -> None:
    fleet = one(sa, "aws_spot_fleet_request")
    attachments = resources(sa, "aws_iam_role_policy_attachment")
    tagging = [a for a in attachments if a["policy_arn"].endswith("service-role/AmazonEC2SpotFleetTaggingRole")]
    assert len(tagging) == 1 and fleet["iam_fleet_role"] == tagging[0]["role"].replace(".name}", ".arn}")
    role = by_name(sa, "aws_iam_role")["fleet-role"]
    assert "spotfleet.amazonaws.com" in role["assume_role_policy"]


def test_asg_alternative_mixes_instance_types_and_rebalances_capacity(alt: StackDoc) -> None:
    assert not resources(alt, "aws_spot_fleet_request")
    asg = one(alt, "aws_autoscaling_group")
    assert asg["capacity_rebalance"] is True
    assert (asg["min_size"], asg["desired_capacity"]) == (4, 4)
    distribution = asg["mixed_instances_policy"]["instances_distribution"]
    assert distribution["spot_allocation_strategy"] == "price-capacity-optimized"
    assert (distribution["on_demand_base_capacity"], distribution["on_demand_percentage_above_base_capacity"]) == (1, 0)
    assert len(asg["mixed_instances_policy"]["launch_template"]["override"]) >= 2
    private = private_subnet_refs(alt)
    assert set(asg["vpc_zone_identifier"]) == private and len(private) == 2


# --- IAM -------------------------------------------------------------------------------------


def test_asg_refresh_of_workers_rolls_back_when_heartbeats_stop_or_workers_fall_behind(alt: StackDoc) -> None:
    prefs = one(alt, "aws_autoscaling_group")["instance_refresh"]["preferences"]
    names = {
        a["//"]["metadata"]["path"].rsplit("/", 1)[1]: a["alarm_name"]
        for a in resources(alt, "aws_cloudwatch_metric_alarm")
    }
    assert prefs["auto_rollback"] is True and prefs["skip_matching"] is True
    assert prefs["alarm_specification"]["alarms"] == [names["alarm-heartbeats"], names["alarm-iterator-age"]]
    assert (prefs["checkpoint_percentages"], prefs["min_healthy_percentage"]) == ([20, 100], 100)


def test_worker_role_may_do_exactly_what_the_worker_does_on_these_resources(sa: StackDoc) -> None:
    statements = {s["Sid"]: s for s in worker_policy(sa)}
    assert set(statements) == set(WORKER_SIDS)
    assert statements["ReadThisStream"]["Resource"] == ref(sa, "aws_kinesis_stream", "arn")
    assert statements["LeasesInThisTable"]["Resource"] == ref(sa, "aws_dynamodb_table", "arn")
    assert statements["WriteResults"]["Resource"].endswith("/results/*")
    # The worker HEADs a result key that already exists (a replay, a takeover): 403 would stall the shard.
    assert set(statements["WriteResults"]["Action"]) == {"s3:PutObject", "s3:GetObject"}
    # It deletes only the analytics-state snapshots its lease no longer points at, never a result.
    assert statements["DeleteSupersededSnapshots"]["Action"] == "s3:DeleteObject"
    assert statements["DeleteSupersededSnapshots"]["Resource"].endswith("/results/*/_state/*")
    assert statements["SendPoisonRecords"] == {
        **statements["SendPoisonRecords"],
        "Action": ["sqs:SendMessage"],
        "Resource": "${aws_sqs_queue.dlq.arn}",
    }
    assert statements["UseTheDataKey"]["Resource"] == ref(sa, "aws_kms_key", "arn")
    for sid, statement in statements.items():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in a for a in actions), f"{sid}: no wildcard actions"
        if statement["Resource"] == "*":
            assert sid == "WorkerMetricsOnly"
            assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}}


# --- visibility ------------------------------------------------------------------------------


def test_spot_interruption_and_rebalance_events_go_to_the_alerts_topic(sa: StackDoc) -> None:
    patterns = {json.loads(r["event_pattern"])["detail-type"][0] for r in resources(sa, "aws_cloudwatch_event_rule")}
    assert patterns == {"EC2 Spot Instance Interruption Warning", "EC2 Instance Rebalance Recommendation"}
    assert {t["arn"] for t in resources(sa, "aws_cloudwatch_event_target")} == {ref(sa, "aws_sns_topic", "arn")}
    policy = json.loads(one(sa, "aws_sns_topic_policy")["policy"])
    (events,) = [s for s in policy["Statement"] if s["Principal"] == {"Service": "events.amazonaws.com"}]
    assert len(events["Condition"]["ArnEquals"]["aws:SourceArn"]) == 2, "only these rules may publish"
    assert one(sa, "aws_sns_topic")["kms_master_key_id"] == ref(sa, "aws_kms_key", "arn")


def test_a_spot_event_that_cannot_reach_the_topic_goes_to_a_dead_letter_queue(sa: StackDoc) -> None:
    """EventBridge retries a target for 24 h by default and then drops the event; here each
    target gives up after an hour and dead-letters it, with its reason, to a KMS queue that
    only these rules may write to, and whose depth alarms."""
    (address,) = [k for k, q in by_name(sa, "aws_sqs_queue").items() if q["name"].endswith("-event-dlq")]
    queue_arn = f"${{aws_sqs_queue.{address}.arn}}"
    for target in resources(sa, "aws_cloudwatch_event_target"):
        assert target["dead_letter_config"] == {"arn": queue_arn}
        assert target["retry_policy"]["maximum_event_age_in_seconds"] == 3600
    queue = by_name(sa, "aws_sqs_queue")[address]
    assert "fifo_queue" not in queue, "EventBridge dead-letters to standard queues only"
    assert queue["kms_master_key_id"] == ref(sa, "aws_kms_key", "arn")
    (statement,) = json.loads(one(sa, "aws_sqs_queue_policy")["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    rules = {f"${{aws_cloudwatch_event_rule.{k}.arn}}" for k in by_name(sa, "aws_cloudwatch_event_rule")}
    assert set(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == rules
    key_policy = json.loads(one(sa, "aws_kms_key")["policy"])
    assert any(s["Principal"] == {"Service": "events.amazonaws.com"} for s in key_policy["Statement"]), (
        "EventBridge must be able to encrypt into the queue's key"
    )
    depth = alarm(sa, "-undelivered-spot-events")
    assert depth["dimensions"] == {"QueueName": f"${{aws_sqs_queue.{address}.name}}"} and depth["threshold"] == 0


def test_lease_table_throttling_alarms_for_reads_and_writes(sa: StackDoc) -> None:
    """Lease renewals are conditional writes: throttled ones make workers lose shards."""
    table = f"${{aws_dynamodb_table.{next(iter(by_name(sa, 'aws_dynamodb_table')))}.name}}"
    for op in ("Read", "Write"):
        found = alarm(sa, f"-lease-{op.lower()}s-throttled")
        assert (found["namespace"], found["metric_name"]) == ("AWS/DynamoDB", f"{op}ThrottleEvents")
        assert found["dimensions"] == {"TableName": table} and found["threshold"] == 0


def test_lease_table_system_errors_alarm_for_every_call_the_worker_makes(sa: StackDoc) -> None:
    """SystemErrors is published per operation: an alarm on the table alone never sees data,
    so each DynamoDB call in the worker's code needs its own."""
    calls = set()
    for source in WORKER_DIR.glob("*.py"):
        calls |= set(
            re.findall(r"\.(put_item|update_item|delete_item|get_item|scan|query|batch_\w+)\(", source.read_text())
        )
    used = {"".join(part.capitalize() for part in call.split("_")) for call in calls}
    assert used == set(LEASE_OPERATIONS)
    for op in LEASE_OPERATIONS:
        found = alarm(sa, f"-lease-{op.lower()}-system-errors")
        assert (found["metric_name"], found["dimensions"]["Operation"], found["threshold"]) == ("SystemErrors", op, 0)


def alarm(doc: StackDoc, suffix: str) -> dict[str, Any]:
    (found,) = [a for a in resources(doc, "aws_cloudwatch_metric_alarm") if a["alarm_name"].endswith(suffix)]
    return found


def test_alarms_watch_iterator_age_throttling_and_dlq_depth(sa: StackDoc) -> None:
    age = alarm(sa, "-iterator-age")
    assert (age["metric_name"], age["threshold"]) == ("GetRecords.IteratorAgeMilliseconds", 300_000)
    assert alarm(sa, "-read-throttled")["metric_name"] == "ReadProvisionedThroughputExceeded"
    assert alarm(sa, "-write-throttled")["metric_name"] == "WriteProvisionedThroughputExceeded"
    dlq = alarm(sa, "-dlq-depth")
    assert (dlq["metric_name"], dlq["threshold"], dlq["comparison_operator"]) == (
        "ApproximateNumberOfMessagesVisible",
        0,
        "GreaterThanThreshold",
    )
    topic = ref(sa, "aws_sns_topic", "arn")
    assert all(a["alarm_actions"] == [topic] for a in resources(sa, "aws_cloudwatch_metric_alarm"))


def test_missing_heartbeats_alarm_treats_no_data_as_a_failure(sa: StackDoc) -> None:
    beat = alarm(sa, "-heartbeats-missing")
    assert (beat["namespace"], beat["metric_name"]) == (METRIC_NAMESPACE, "Heartbeat")
    assert beat["comparison_operator"] == "LessThanThreshold" and beat["threshold"] == 1
    assert beat["treat_missing_data"] == "breaching", "no workers at all means no data: that must alarm"


def test_dashboard_shows_the_stream_the_workers_and_the_dlq(sa: StackDoc) -> None:
    body = one(sa, "aws_cloudwatch_dashboard")["dashboard_body"]
    for metric in (
        "GetRecords.IteratorAgeMilliseconds",
        "Heartbeat",
        "PoisonRecords",
        "ApproximateNumberOfMessagesVisible",
    ):
        assert metric in body


def test_outputs_name_every_handle_with_a_description(sa: StackDoc) -> None:
    outputs = sa["output"]
    assert {"stream_name", "stream_arn", "lease_table_name", "results_bucket_name", "dlq_url", "fleet_id"} <= set(
        outputs
    )
    assert all(o.get("description") for o in outputs.values())
    assert outputs["fleet_id"]["value"] == ref(sa, "aws_spot_fleet_request", "id")


# --- settings and the block ----------------------------------------------------------------


def test_bad_stream_settings_are_reported_together() -> None:
    env = {
        "RAI_STREAM_RETENTION_HOURS": "12",
        "RAI_STREAM_INSTANCE_TYPES": "m5.large",
        "RAI_STREAM_ON_DEMAND_COUNT": "9",
        "RAI_STREAM_FLEET_KIND": "ec2",
    }
    with pytest.raises(SettingsError) as info:
        settings_from(env)
    text = str(info.value)
    for name in ("stream.retention_hours", "stream.instance_types", "stream.on_demand_count", "stream.fleet_kind"):
        assert name in text


def _props(**overrides: Any) -> InstanceTemplateProps:
    base: dict[str, Any] = {
        "name": "demo",
        "service": "demo-svc",
        "artifact_dir": WORKER_DIR,
        "artifact_bucket": "b",
        "artifact_bucket_arn": "arn:aws:s3:::b",
        "command": "/usr/bin/python3.11 -m stream_worker",
        "security_group_ids": ["sg-1"],
        "policy_statements": [{"Effect": "Allow"}],
        "environment": {"A_B": "x y"},
        "setup_command": "true",
        "log_group_name": "/demo",
    }
    return InstanceTemplateProps(**(base | overrides))


def test_instance_template_props_report_every_problem() -> None:
    with pytest.raises(ValueError) as info:
        _props(
            service="Bad_Name",
            artifact_dir=Path("/nope"),
            command=" ",
            security_group_ids=[],
            policy_statements=[],
            environment={"lower": "x", "Q": "it's"},
            root_volume_gib=2,
        )
    text = str(info.value)
    for name in (
        "service=",
        "artifact_dir=",
        "command:",
        "security_group_ids:",
        "policy_statements:",
        "UPPER_SNAKE_CASE",
        "quotes",
        "root_volume_gib=",
    ):
        assert name in text


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash to parse the script")
def test_user_data_is_a_valid_bash_script_with_a_restarting_unit_and_log_shipping() -> None:
    script = user_data(_props(), "s3://b/artifacts/demo-svc/x.zip", "eu-west-1")
    parsed = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert parsed.returncode == 0, parsed.stderr
    assert '"' not in script, "no double quotes: cdktf refuses them inside Fn.base64encode"
    unit = script.split("<<'UNIT'\n")[1].split("\nUNIT")[0]
    assert {
        "Restart=always",
        "User=demo-svc",
        "KillSignal=SIGTERM",
        "ExecStart=/usr/bin/python3.11 -m stream_worker",
        "StartLimitIntervalSec=0",
    } <= set(unit.splitlines())
    assert "A_B='x y'" in script
    agent = script.split("<<'AGENT'\n")[1].split("\nAGENT")[0].replace("'", '"')
    assert json.loads(agent)["logs"]["logs_collected"]["files"]["collect_list"][0]["log_group_name"] == "/demo"
    assert base64.b64encode(script.encode())  # plain text, encoded by Terraform at apply


@pytest.mark.slow
def test_the_asg_variant_validates_offline_and_passes_checkov(alt_dir: Path) -> None:
    """The default synth (Spot Fleet) is covered by the every-stack validate and scan tests."""
    from tools.deploy.checkov_scan import load_waivers, scan
    from tools.deploy.terraform import Terraform, stack_dirs, validate_all

    results = validate_all(Terraform(settings_from()), stack_dirs(alt_dir))
    errors = [str(d) for diags in results.values() for d in diags if d.severity == "error"]
    assert set(results) == {"stream-analytics"} and not errors, "\n".join(errors)
    waivers = load_waivers()
    result = scan(alt_dir, waivers)
    assert result.passed > 0 and not result.failures, "\n".join(map(str, result.failures))
    used = {w for _, w in result.waived}
    stale = [w for w in waivers if w.variant == "stream.fleet_kind = asg" and w not in used]
    assert not stale, f"waivers for this variant that match nothing here: {stale}"


def test_the_snapshot_interval_setting_reaches_the_workers_config() -> None:
    """``stream.state_snapshot_s`` is what the worker reads as ``STATE_SNAPSHOT_S``: how much of a
    shard a takeover after a crash re-reads, against one S3 put per shard per interval."""
    from stream_worker.config import Config

    from modules.architectures.stream_analytics.worker_access import worker_environment

    settings = settings_from({"RAI_STREAM_STATE_SNAPSHOT_S": "300"})
    env = worker_environment(settings, "p", results_bucket="b", dlq_url="https://sqs/q.fifo")
    config = Config.from_env({**env, "WORKER_ID": "w"})
    assert config.state_snapshot_s == 300
    with pytest.raises(SettingsError, match=r"stream\.state_snapshot_s = 1"):
        settings_from({"RAI_STREAM_STATE_SNAPSHOT_S": "1"})
