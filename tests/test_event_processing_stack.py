"""The `event-processing` stack: what makes "nothing lost" and least privilege true in the synthesized Terraform."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modules.architectures.event_processing.settings import EventProcessingSettings
from modules.config import SettingsError
from tests.conftest import StackDoc, load_stacks, one, resources, settings_from

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/analytics"
STREAM_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def queued(stacks: dict[str, StackDoc]) -> StackDoc:
    """The default: queue delivery."""
    return stacks["event-processing"]


@pytest.fixture(scope="module")
def direct_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Direct delivery, with the optional Kinesis output and an alarm e-mail: one extra synth."""
    from modules.app import synth

    settings = settings_from(
        {
            "RAI_EVENT_PROCESSING_DELIVERY": "direct",
            "RAI_EVENT_PROCESSING_KINESIS_STREAM_ARN": STREAM_ARN,
            "RAI_EVENT_PROCESSING_KINESIS_KMS_KEY_ARN": STREAM_KEY_ARN,
            "RAI_ALARM_EMAIL": "oncall@example.com",
        }
    )
    outdir = tmp_path_factory.mktemp("synth-direct") / "cdktf.out"
    synth(settings, outdir, only=["event-processing"])
    return outdir


@pytest.fixture(scope="module")
def direct(direct_dir: Path) -> StackDoc:
    return load_stacks(direct_dir)["event-processing"]


def by_path(doc: StackDoc, rtype: str, path_end: str) -> dict[str, Any]:
    found = [r for r in resources(doc, rtype) if r["//"]["metadata"]["path"].endswith(path_end)]
    assert len(found) == 1, f"{rtype} at */{path_end}: found {len(found)}"
    return found[0]


def ref(doc: StackDoc, rtype: str, path_end: str, attr: str) -> str:
    """The interpolation that refers to ``attr`` of the resource at ``path_end``."""
    r = by_path(doc, rtype, path_end)
    return "${" + f"{rtype}.{r['//']['metadata']['uniqueId']}.{attr}" + "}"


def statements(doc: StackDoc) -> dict[str, dict[str, Any]]:
    policy = json.loads(by_path(doc, "aws_iam_role_policy", "processor/policy")["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


# --- data bucket -------------------------------------------------------------------------


def test_data_bucket_is_versioned_kms_encrypted_private_and_tls_only(queued: StackDoc) -> None:
    data = by_path(queued, "aws_s3_bucket", "data/bucket")
    assert data["bucket"] == "resilient-ai-dev-events-us-east-1"
    assert by_path(queued, "aws_s3_bucket_versioning", "data/versioning")["versioning_configuration"] == {
        "status": "Enabled"
    }
    rule = by_path(queued, "aws_s3_bucket_server_side_encryption_configuration", "data/encryption")["rule"][0]
    assert rule["apply_server_side_encryption_by_default"] == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": ref(queued, "aws_kms_key", "key/key", "arn"),
    }
    pab = by_path(queued, "aws_s3_bucket_public_access_block", "data/public-access-block")
    assert all(
        pab[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    assert by_path(queued, "aws_s3_bucket_ownership_controls", "data/ownership")["rule"] == {
        "object_ownership": "BucketOwnerEnforced"
    }
    sids = {s["Sid"] for s in json.loads(by_path(queued, "aws_s3_bucket_policy", "data/policy")["policy"])["Statement"]}
    assert {"DenyInsecureTransport", "DenyOutdatedTls"} <= sids


def test_key_rotates(queued: StackDoc) -> None:
    """Its protection (refused in a protected environment) is tests/test_teardown.py's."""
    assert one(queued, "aws_kms_key")["enable_key_rotation"] is True


def test_data_lifecycle_expires_old_versions_and_aborts_uploads(queued: StackDoc) -> None:
    (rule,) = by_path(queued, "aws_s3_bucket_lifecycle_configuration", "data/lifecycle")["rule"]
    assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 90, "newer_noncurrent_versions": 10}]
    assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}]


def test_access_logs_go_to_an_sse_s3_log_bucket_that_only_s3_logging_may_write(queued: StackDoc) -> None:
    logging = one(queued, "aws_s3_bucket_logging")
    assert logging["bucket"] == ref(queued, "aws_s3_bucket", "data/bucket", "id")
    # Through the log bucket's policy: S3 refuses a target that does not yet allow log delivery.
    assert logging["target_bucket"] == ref(queued, "aws_s3_bucket_policy", "access-logs/policy", "bucket")
    policy = by_path(queued, "aws_s3_bucket_policy", "access-logs/policy")
    assert policy["bucket"] == ref(queued, "aws_s3_bucket", "access-logs/bucket", "id")
    assert by_path(queued, "aws_s3_bucket", "access-logs/bucket")["bucket"] == "resilient-ai-dev-events-us-east-1-logs"
    # S3 cannot deliver access logs into an SSE-KMS bucket.
    sse = by_path(queued, "aws_s3_bucket_server_side_encryption_configuration", "access-logs/encryption")["rule"][0]
    assert sse["apply_server_side_encryption_by_default"] == {"sse_algorithm": "AES256"}
    policy = json.loads(by_path(queued, "aws_s3_bucket_policy", "access-logs/policy")["policy"])
    (delivery,) = [s for s in policy["Statement"] if s["Sid"] == "S3ServerAccessLogDelivery"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Condition"]["ArnLike"]["aws:SourceArn"].endswith(":s3:::resilient-ai-dev-events-us-east-1")


# --- delivery: queue (default) ------------------------------------------------------------


def test_queue_delivery_is_the_default_and_s3_notifies_the_queue_for_data_json(queued: StackDoc) -> None:
    notification = one(queued, "aws_s3_bucket_notification")
    assert "lambda_function" not in notification
    (target,) = notification["queue"]
    assert target == {
        "events": ["s3:ObjectCreated:*"],
        "filter_prefix": "data/",
        "filter_suffix": ".json",
        "queue_arn": ref(queued, "aws_sqs_queue", "queue/queue", "arn"),
    }
    # S3 test-sends to the queue when the notification is created: the policy must exist first.
    assert notification["depends_on"] == [
        f"aws_sqs_queue_policy.{one(queued, 'aws_sqs_queue_policy')['//']['metadata']['uniqueId']}"
    ]


def test_only_this_bucket_in_this_account_may_send_to_the_queue(queued: StackDoc) -> None:
    (statement,) = json.loads(one(queued, "aws_sqs_queue_policy")["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"].endswith(":s3:::resilient-ai-dev-events-us-east-1")
    assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]


def test_queue_is_encrypted_and_redrives_to_the_dlq_after_max_receives(queued: StackDoc) -> None:
    queue = by_path(queued, "aws_sqs_queue", "queue/queue")
    assert queue["kms_master_key_id"] == ref(queued, "aws_kms_key", "key/key", "arn")
    assert json.loads(queue["redrive_policy"]) == {
        "deadLetterTargetArn": ref(queued, "aws_sqs_queue", "dlq/queue", "arn"),
        "maxReceiveCount": 5,
    }


def test_visibility_timeout_outlasts_the_function(queued: StackDoc) -> None:
    """Shorter, and a message is handed to a second invocation while the first still works on it."""
    queue = by_path(queued, "aws_sqs_queue", "queue/queue")
    timeout = one(queued, "aws_lambda_function")["timeout"]
    assert queue["visibility_timeout_seconds"] == 6 * timeout > timeout


def test_event_source_mapping_reports_partial_batch_failures(queued: StackDoc) -> None:
    esm = one(queued, "aws_lambda_event_source_mapping")
    assert esm["function_response_types"] == ["ReportBatchItemFailures"], "else one bad message retries the batch"
    assert esm["event_source_arn"] == ref(queued, "aws_sqs_queue", "queue/queue", "arn")
    assert (esm["batch_size"], esm["maximum_batching_window_in_seconds"]) == (10, 5)
    fn = one(queued, "aws_lambda_function")
    assert esm["scaling_config"] == {"maximum_concurrency": fn["reserved_concurrent_executions"]}, (
        "pollers beyond the reserved concurrency are throttled and burn receives towards the DLQ"
    )


def test_queue_mode_has_no_async_path(queued: StackDoc) -> None:
    assert not resources(queued, "aws_lambda_permission")
    assert not resources(queued, "aws_lambda_function_event_invoke_config")


def test_dlq_keeps_messages_for_the_longest_time_sqs_allows(queued: StackDoc) -> None:
    dlq = by_path(queued, "aws_sqs_queue", "dlq/queue")
    assert dlq["message_retention_seconds"] == 14 * 24 * 3600
    assert dlq["kms_master_key_id"] == ref(queued, "aws_kms_key", "key/key", "arn")
    assert "redrive_policy" not in dlq


# --- delivery: direct ----------------------------------------------------------------------


def test_direct_delivery_notifies_the_function_after_the_permission_exists(direct: StackDoc) -> None:
    notification = one(direct, "aws_s3_bucket_notification")
    (target,) = notification["lambda_function"]
    assert target["lambda_function_arn"] == ref(direct, "aws_lambda_alias", "canary/alias", "arn")
    assert (target["filter_prefix"], target["filter_suffix"]) == ("data/", ".json")
    permission = one(direct, "aws_lambda_permission")
    assert notification["depends_on"] == [f"aws_lambda_permission.{permission['//']['metadata']['uniqueId']}"]
    assert not resources(direct, "aws_lambda_event_source_mapping")
    assert [q["name"] for q in resources(direct, "aws_sqs_queue")] == ["resilient-ai-dev-events-dlq"]


def test_s3_may_invoke_only_for_this_bucket_in_this_account(direct: StackDoc) -> None:
    permission = one(direct, "aws_lambda_permission")
    assert (permission["principal"], permission["action"]) == ("s3.amazonaws.com", "lambda:InvokeFunction")
    assert permission["source_arn"].endswith(":s3:::resilient-ai-dev-events-us-east-1")
    assert permission["source_account"] == "${data.aws_caller_identity.account.account_id}", (
        "bucket ARNs carry no account: without it a same-named bucket elsewhere could invoke"
    )


def test_async_invocations_retry_a_bounded_number_of_times_then_go_to_the_dlq(direct: StackDoc) -> None:
    config = one(direct, "aws_lambda_function_event_invoke_config")
    assert config["maximum_retry_attempts"] == 2
    assert config["maximum_event_age_in_seconds"] == 3600
    assert config["destination_config"] == {
        "on_failure": {"destination": ref(direct, "aws_sqs_queue", "dlq/queue", "arn")}
    }


def test_direct_mode_role_may_send_to_the_dlq_and_nothing_may_consume_a_queue(direct: StackDoc) -> None:
    sts = statements(direct)
    assert sts["SendToDlq"]["Action"] == "sqs:SendMessage"
    assert sts["SendToDlq"]["Resource"] == ref(direct, "aws_sqs_queue", "dlq/queue", "arn")
    assert "ConsumeQueue" not in sts


# --- the function ----------------------------------------------------------------------------


def test_function_runs_a_current_python_with_tracing_and_settings_limits(queued: StackDoc) -> None:
    fn = one(queued, "aws_lambda_function")
    assert fn["runtime"] in ("python3.12", "python3.13")
    assert fn["tracing_config"] == {"mode": "Active"}
    assert (fn["memory_size"], fn["timeout"], fn["reserved_concurrent_executions"]) == (1024, 300, 10)
    assert fn["ephemeral_storage"] == {"size": 2048}
    assert fn["kms_key_arn"] == ref(queued, "aws_kms_key", "key/key", "arn"), "environment encrypted"
    assert fn["handler"] == "handler.handler"


def test_code_hash_is_base64_sha256_of_the_archive(queued: StackDoc, synth_dir: Path) -> None:
    """An MD5 (the asset hash) never matches what AWS reports, so every plan would show a diff."""
    fn = one(queued, "aws_lambda_function")
    assert fn["source_code_hash"] == '${filebase64sha256("' + fn["filename"] + '")}'
    archive = synth_dir / "stacks" / "event-processing" / fn["filename"]
    import zipfile

    names = set(zipfile.ZipFile(archive).namelist())
    assert {"handler.py", "processing.py", "model.json"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_environment_carries_prefixes_and_limits(queued: StackDoc) -> None:
    env = one(queued, "aws_lambda_function")["environment"]["variables"]
    assert env == {
        "DATA_BUCKET": "resilient-ai-dev-events-us-east-1",
        "DATA_PREFIX": "data/",
        "RESULTS_PREFIX": "results/",
        "QUARANTINE_PREFIX": "quarantine/",
        "MAX_OBJECT_BYTES": str(256 << 20),
        "MAX_RECORD_BYTES": str(1 << 20),
        "KINESIS_STREAM_ARN": "",
    }


def test_log_group_exists_first_with_retention_and_kms(queued: StackDoc) -> None:
    logs = one(queued, "aws_cloudwatch_log_group")
    fn = one(queued, "aws_lambda_function")
    assert logs["name"] == f"/aws/lambda/{fn['function_name']}", "the group Lambda writes to, not a second one"
    assert logs["retention_in_days"] == 365 and logs["kms_key_id"] == ref(queued, "aws_kms_key", "key/key", "arn")
    assert f"aws_cloudwatch_log_group.{logs['//']['metadata']['uniqueId']}" in fn["depends_on"]


def test_key_policy_lets_only_the_needed_services_use_the_key(queued: StackDoc) -> None:
    policy = json.loads(one(queued, "aws_kms_key")["policy"])
    services = {s["Sid"]: s["Principal"] for s in policy["Statement"]}
    assert services["CloudWatchLogsEncryptsOwnLogGroup"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert services["S3NotifiesEncryptedQueue"] == {"Service": "s3.amazonaws.com"}
    assert services["CloudWatchAlarmsPublishToEncryptedTopic"] == {"Service": "cloudwatch.amazonaws.com"}
    for s in policy["Statement"][1:]:
        assert s.get("Condition"), f"{s['Sid']}: a service grant is scoped by a condition"


# --- least privilege ---------------------------------------------------------------------------


def test_role_reads_only_the_input_prefix_and_writes_only_results_and_quarantine(queued: StackDoc) -> None:
    sts = statements(queued)
    bucket = "s3:::resilient-ai-dev-events-us-east-1"
    assert sts["ReadInput"]["Action"] == "s3:GetObject" and sts["ReadInput"]["Resource"].endswith(f"{bucket}/data/*")
    writes = sts["WriteResultsAndRejects"]
    assert writes["Action"] == "s3:PutObject"
    assert sorted(r.split(":::")[1] for r in writes["Resource"]) == [
        "resilient-ai-dev-events-us-east-1/quarantine/*",
        "resilient-ai-dev-events-us-east-1/results/*",
    ]
    s3_actions = {
        a
        for s in sts.values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        if a.startswith("s3:")
    }
    assert s3_actions == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}, "no delete, no wildcard"


def test_role_uses_only_its_own_key_queue_and_log_group(queued: StackDoc) -> None:
    sts = statements(queued)
    key = ref(queued, "aws_kms_key", "key/key", "arn")
    assert sts["UseDataKey"]["Resource"] == key and sts["DecryptOwnEnvironment"]["Resource"] == key
    assert sts["ConsumeQueue"]["Resource"] == ref(queued, "aws_sqs_queue", "queue/queue", "arn")
    assert sts["WriteOwnLogs"]["Resource"].endswith(":log-group:/aws/lambda/resilient-ai-dev-events-processor:*")
    assert "logs:CreateLogGroup" not in sts["WriteOwnLogs"]["Action"], "the group is Terraform's"
    star = [sid for sid, s in sts.items() if s["Resource"] == "*"]
    assert star == ["WriteTraces"], "only X-Ray, which has no resource-level permissions"
    assert "SendToDlq" not in sts, "in queue mode SQS redrives; the function never writes the DLQ"


def test_role_can_be_assumed_only_by_lambda_for_this_account(queued: StackDoc) -> None:
    (statement,) = json.loads(by_path(queued, "aws_iam_role", "processor/role")["assume_role_policy"])["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]


def test_kinesis_output_is_off_by_default_and_granted_only_when_set(queued: StackDoc, direct: StackDoc) -> None:
    assert "PutResultsOnStream" not in statements(queued)
    sts = statements(direct)
    assert sts["PutResultsOnStream"]["Resource"] == STREAM_ARN
    assert "kinesis:PutRecords" in sts["PutResultsOnStream"]["Action"]
    assert sts["EncryptForStream"] == {
        "Sid": "EncryptForStream",
        "Effect": "Allow",
        "Action": "kms:GenerateDataKey",
        "Resource": STREAM_KEY_ARN,
    }
    assert one(direct, "aws_lambda_function")["environment"]["variables"]["KINESIS_STREAM_ARN"] == STREAM_ARN


# --- alarms, dashboard, outputs -------------------------------------------------------------------


def alarms(doc: StackDoc) -> dict[str, dict[str, Any]]:
    return {a["metric_name"]: a for a in resources(doc, "aws_cloudwatch_metric_alarm")}


def test_alarms_cover_errors_throttles_dlq_and_backlog_age(queued: StackDoc) -> None:
    found = alarms(queued)
    assert set(found) == {"Errors", "Throttles", "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}
    topic = ref(queued, "aws_sns_topic", "alarms/topic", "arn")
    for alarm in found.values():
        assert alarm["alarm_actions"] == [topic] and alarm["comparison_operator"] == "GreaterThanThreshold"
    assert found["ApproximateNumberOfMessagesVisible"]["threshold"] == 0, "one message in the DLQ is one too many"
    assert found["ApproximateNumberOfMessagesVisible"]["dimensions"] == {
        "QueueName": ref(queued, "aws_sqs_queue", "dlq/queue", "name")
    }
    assert found["ApproximateAgeOfOldestMessage"]["dimensions"] == {
        "QueueName": ref(queued, "aws_sqs_queue", "queue/queue", "name")
    }


def test_direct_mode_alarms_on_events_that_could_be_lost(direct: StackDoc) -> None:
    found = alarms(direct)
    assert {"DestinationDeliveryFailures", "AsyncEventsDropped", "ApproximateNumberOfMessagesVisible"} <= set(found)
    assert "ApproximateAgeOfOldestMessage" not in found


def test_alarm_topic_is_encrypted_and_an_address_sends_the_alarms_to_the_environments_topic(
    queued: StackDoc, direct: StackDoc
) -> None:
    assert one(queued, "aws_sns_topic")["kms_master_key_id"] == ref(queued, "aws_kms_key", "key/key", "arn")
    assert not resources(queued, "aws_sns_topic_subscription")
    assert not resources(direct, "aws_sns_topic_subscription") and not resources(direct, "aws_sns_topic")
    (lookup,) = direct["data"]["aws_sns_topic"].values()
    assert lookup["name"] == "resilient-ai-dev-alarms", "an address: the `alarms` stack's topic, subscribed there"


def test_dashboard_shows_every_alarmed_metric(queued: StackDoc) -> None:
    body = json.loads(one(queued, "aws_cloudwatch_dashboard")["dashboard_body"])
    shown = {w["properties"]["metrics"][0][1] for w in body["widgets"]}
    assert shown == set(alarms(queued))


def test_outputs_name_bucket_function_dlq_and_topic(queued: StackDoc, direct: StackDoc) -> None:
    common = {"data_bucket_name", "function_name", "dlq_url", "alarm_topic_arn", "live_alias_arn"}
    assert set(queued["output"]) == common | {"queue_url"}
    assert set(direct["output"]) == common
    assert all(o["description"] for o in queued["output"].values())


# --- settings ---------------------------------------------------------------------------------------


def test_overlapping_prefixes_are_refused_before_anything_is_built() -> None:
    """A results prefix under the input prefix would make every result trigger itself."""
    with pytest.raises(SettingsError) as info:
        settings_from({"RAI_EVENT_PROCESSING_RESULTS_PREFIX": "data/results/"})
    assert "event_processing.results_prefix" in str(info.value) and "overlap" in str(info.value)


def test_every_bad_event_processing_setting_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        settings_from(
            {
                "RAI_EVENT_PROCESSING_DELIVERY": "carrier-pigeon",
                "RAI_EVENT_PROCESSING_DATA_PREFIX": "/data",
                "RAI_EVENT_PROCESSING_FUNCTION_TIMEOUT_S": "1000",
                "RAI_EVENT_PROCESSING_KINESIS_STREAM_ARN": "my-stream",
            }
        )
    problems = "\n".join(info.value.problems)
    for name in ("delivery", "data_prefix", "function_timeout_s", "kinesis_stream_arn"):
        assert f"event_processing.{name}" in problems
    assert len(info.value.problems) == 4


@pytest.mark.slow
def test_direct_mode_validates_offline_and_passes_checkov(direct_dir: Path) -> None:
    """The shared validate/checkov tests see the default (queue) synth; this covers the other."""
    from tools.deploy.checkov_scan import load_waivers, scan
    from tools.deploy.terraform import Terraform, stack_dirs, validate_all

    diagnostics = validate_all(Terraform(settings_from()), stack_dirs(direct_dir))["event-processing"]
    assert not [d for d in diagnostics if d.severity == "error"], diagnostics
    result = scan(direct_dir, [w for w in load_waivers() if w.stack in ("event-processing", "*")])
    assert result.passed > 0 and not result.failures, "\n".join(map(str, result.failures))


# --- deploying a new version: the live alias and its CodeDeploy canary ----------------------


def test_function_publishes_a_version_per_change_behind_a_live_alias(queued: StackDoc) -> None:
    fn = by_path(queued, "aws_lambda_function", "processor/function")
    alias = by_path(queued, "aws_lambda_alias", "canary/alias")
    assert fn["publish"] is True
    assert (alias["name"], alias["function_version"]) == (
        "live",
        ref(queued, "aws_lambda_function", "processor/function", "version"),
    )
    assert alias["lifecycle"]["ignore_changes"] == ["function_version", "routing_config"], "only CodeDeploy moves it"


def test_every_trigger_invokes_the_live_alias_not_the_latest_code(queued: StackDoc, direct: StackDoc) -> None:
    assert one(queued, "aws_lambda_event_source_mapping")["function_name"] == ref(
        queued, "aws_lambda_alias", "canary/alias", "arn"
    )
    alias_name = ref(direct, "aws_lambda_alias", "canary/alias", "name")
    assert one(direct, "aws_lambda_permission")["qualifier"] == alias_name
    assert one(direct, "aws_lambda_function_event_invoke_config")["qualifier"] == alias_name


def test_codedeploy_shifts_ten_percent_for_five_minutes_and_rolls_back_on_the_error_alarm(queued: StackDoc) -> None:
    app = by_path(queued, "aws_codedeploy_app", "canary/application")
    group = by_path(queued, "aws_codedeploy_deployment_group", "canary/group")
    assert app["compute_platform"] == "Lambda"
    assert group["deployment_config_name"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["deployment_style"] == {"deployment_option": "WITH_TRAFFIC_CONTROL", "deployment_type": "BLUE_GREEN"}
    rollback = group["auto_rollback_configuration"]
    assert rollback == {"enabled": True, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}
    errors = ref(queued, "aws_cloudwatch_metric_alarm", "alarm-errors", "alarm_name")
    assert group["alarm_configuration"] == {"enabled": True, "alarms": [errors]}


def test_the_deploy_starts_one_deployment_per_new_version_from_the_alias_current_one(queued: StackDoc) -> None:
    shift = by_path(queued, "terraform_data", "canary/shift")
    version = ref(queued, "aws_lambda_function", "processor/function", "version")
    assert shift["triggers_replace"] == {"version": version}
    (provisioner,) = shift["provisioner"]
    env = provisioner["local-exec"]["environment"]
    assert (env["TARGET"], env["CURRENT"]) == (
        version,
        ref(queued, "aws_lambda_alias", "canary/alias", "function_version"),
    )
    assert "aws deploy create-deployment" in provisioner["local-exec"]["command"]
    assert "aws deploy wait deployment-successful" in provisioner["local-exec"]["command"], "a rollback fails the apply"


def test_codedeploy_role_may_move_only_this_alias(queued: StackDoc) -> None:
    policy = json.loads(by_path(queued, "aws_iam_role_policy", "canary/policy")["policy"])
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert sids["ShiftTheAlias"]["Resource"] == ref(queued, "aws_lambda_alias", "canary/alias", "arn")
    assert set(sids) == {"ShiftTheAlias", "ReadProvisionedConcurrency", "WatchAlarms"}


def test_deployment_config_is_a_setting_and_an_unknown_one_names_the_field() -> None:
    ep = settings_from(
        {"RAI_EVENT_PROCESSING_DEPLOYMENT_CONFIG": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"}
    )
    assert ep.section(EventProcessingSettings).deployment_config.endswith("Linear10PercentEvery1Minute")
    with pytest.raises(SettingsError, match=r"event_processing\.deployment_config"):
        settings_from({"RAI_EVENT_PROCESSING_DEPLOYMENT_CONFIG": "AllAtOnceYolo"})
