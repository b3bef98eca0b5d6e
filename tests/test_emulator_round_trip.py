"""Apply, re-plan with no changes, and destroy on a moto server the test starts itself."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modules.architectures.event_processing.settings import EventProcessingSettings
from modules.config import Settings
from tools.chaos.__main__ import run as chaos_run
from tools.chaos.progress import PlainDisplay
from tools.chaos.runner import ExitCode, Options
from tools.deploy.round_trip import aws_client, emulator_settings, emulator_terraform, round_trip
from tools.harness.emulator_credentials import CREDENTIALS
from tools.harness.moto_server import MotoServer

pytestmark = [pytest.mark.slow, pytest.mark.emulator]


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Settings]:
    """Settings for a moto server of the test's own, not the module's shared ``moto``: its log is
    in the test's ``tmp_path``, where a failed emulator test's report reads the refused calls."""
    with MotoServer(tmp_path / "moto.log") as moto:
        yield emulator_settings(moto.endpoint, environ={})


def test_moto_server_listens_on_loopback_and_stops(tmp_path: Path) -> None:
    server = MotoServer(tmp_path / "moto.log").start()
    try:
        assert server.endpoint.startswith("http://127.0.0.1:")
        pid = server.proc.pid if server.proc else -1
    finally:
        server.stop()
    assert server.proc is None
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)


STATE_KEY = "resilient-ai/dev/{stack}.tfstate"


def state_bucket_is_hardened(settings: Settings) -> None:
    """The state bucket as deployed: versioned, KMS-encrypted, private, TLS-only."""
    s3 = aws_client("s3", settings)
    bucket = settings.state.bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(pab.values()) and len(pab) == 4
    sids = {st["Sid"] for st in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]}
    assert {"DenyInsecureTransport", "DenyOutdatedTls"} <= sids, "the TLS-only policy is deployed"


def _state_bucket_held_the_destroyed_stacks(settings: Settings, stacks: tuple[str, ...]) -> None:
    """Run after the other stacks' destroy: their state lived in the hardened bucket."""
    state_bucket_is_hardened(settings)
    s3 = aws_client("s3", settings)
    for stack in stacks:
        key = STATE_KEY.format(stack=stack)
        versions = s3.list_object_versions(Bucket=settings.state.bucket, Prefix=key).get("Versions", [])
        assert len(versions) >= 2, f"{stack}: apply and destroy each wrote a state version"
        state = json.loads(s3.get_object(Bucket=settings.state.bucket, Key=key)["Body"].read())
        assert state["resources"] == [], f"{stack}: the latest state is the destroyed stack's"


SIDE_BY_SIDE = ("event-processing", "model-serving")


def test_deploy_local_bootstraps_state_and_runs_the_stacks_on_its_bucket_side_by_side(tmp_path: Path) -> None:
    """`make deploy-local` in the real order: ``state`` applied first, then the shared
    ``network`` and event-processing side by side, model-serving once ``network`` is up (it
    reads the shared VPC at plan time); each on the TLS-only, KMS-encrypted state bucket and
    checked on what it deployed (event-processing's queue delivery with its smoke test on real
    objects; model-serving with ``serving.image_uri`` set, no docker build, autoscaling left out
    in emulator mode only: modules/stack/emulator.py, in the network stack's subnets); ``network``
    destroyed after model-serving, ``state`` re-planned and destroyed last.

    Dev is unprotected and its teardown runs as configured, nothing lifted: before each destroy
    every bucket holds an object (two versions) and the ECR repository an image, so each destroy
    passes only on the stores' own ``force_destroy`` / ``force_delete``."""
    from tools.deploy.round_trip import deploy_local

    lines: list[str] = []
    deployed = ("network", *SIDE_BY_SIDE)

    def after_the_others(settings: Settings) -> None:
        _state_bucket_held_the_destroyed_stacks(settings, deployed)
        _model_serving_is_gone(settings)
        buckets = {b["Name"] for b in aws_client("s3", settings).list_buckets()["Buckets"]}
        assert buckets == {settings.state.bucket}, "destroy removed every other bucket, objects and all"
        assert not aws_client("ecr", settings).describe_repositories()["repositories"], "and the repository"
        assert not aws_client("ec2", settings).describe_nat_gateways(
            Filters=[{"Name": "state", "Values": ["available", "pending"]}]
        )["NatGateways"], "destroy removed the shared network's NAT gateways"

    results = deploy_local(
        ["state", *deployed],
        lines.append,
        environ={"RAI_SERVING_IMAGE_URI": SERVING_IMAGE},
        checks={
            "state": after_the_others,
            "event-processing": event_processing_smoke,
            "model-serving": _model_serving_is_fault_tolerant,
        },
        workdir=tmp_path,
    )
    print(*lines, sep="\n")
    assert results[0].stack == "state" and {r.stack for r in results[1:]} == set(deployed)
    assert all(set(r.seconds) == {"init", "apply", "plan", "destroy"} for r in results)
    filled = {r.stack: (len(r.filled.buckets), len(r.filled.repositories)) for r in results if r.filled}
    # state: its bucket; event-processing: data, access logs; model-serving: ALB logs, images.
    assert filled == {"state": (1, 0), "network": (0, 0), "event-processing": (2, 0), "model-serving": (1, 1)}
    applied = [line.split(":")[0] for line in lines if ": applied in " in line]
    assert applied[0] == "state" and sorted(applied[1:]) == sorted(deployed), lines
    assert applied.index("network") < applied.index("model-serving"), "the network is up before its user"
    finished = [line.split(":")[0] for line in lines if "(total " in line]
    assert finished.index("model-serving") < finished.index("network"), "the network outlives its user"
    assert "(total " in lines[-1] and lines[-1].startswith("state:"), "state is destroyed last"


def _synth_probe(settings: Settings, outdir: Path) -> Path:
    """A minimal stack on the S3 backend: a log group with retention."""
    import cdktf
    from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup

    from modules.stack.base import BaseStack

    app = cdktf.App(outdir=str(outdir), stack_traces=False)
    stack = BaseStack(app, "probe", settings=settings)
    CloudwatchLogGroup(stack, "logs", name=f"/{settings.name_prefix}/probe", retention_in_days=30)
    stack.finalize()
    app.synth()
    return outdir / "stacks" / "probe"


def test_stack_keeps_state_in_emulator_s3_with_a_lockfile(emu: Settings, tmp_path: Path) -> None:
    stack_dir = _synth_probe(emu, tmp_path / "out")
    tf = emulator_terraform(emu)
    s3 = aws_client("s3", emu)
    key = STATE_KEY.format(stack="probe")

    def state_is_remote_and_locked_runs_are_refused() -> None:
        state = json.loads(s3.get_object(Bucket=emu.state.bucket, Key=key)["Body"].read())
        assert any(r["type"] == "aws_cloudwatch_log_group" for r in state["resources"])
        assert not (stack_dir / "terraform.tfstate").exists(), "no local state"
        # Another run holds the lock: a second one must be refused, not proceed.
        s3.put_object(Bucket=emu.state.bucket, Key=f"{key}.tflock", Body=b'{"ID": "held-by-test"}')
        try:
            proc = tf.run(stack_dir, "plan", "-lock-timeout=0s", "-input=false", check=False)
            assert proc.returncode != 0
            assert "Error acquiring the state lock" in proc.stderr + proc.stdout
        finally:
            s3.delete_object(Bucket=emu.state.bucket, Key=f"{key}.tflock")

    print(round_trip(tf, emu, stack_dir, state_is_remote_and_locked_runs_are_refused))
    assert not s3.list_objects_v2(Bucket=emu.state.bucket, Prefix=f"{key}.tflock").get("KeyCount")


def event_processing_smoke(settings: Settings) -> None:
    """On the deployed stack: real uploads, the deployed function's own environment, the
    handler run as a process on the events the deployed delivery path carries."""
    ep = settings.section(EventProcessingSettings)
    s3, lam = aws_client("s3", settings), aws_client("lambda", settings)
    function = f"{settings.name_prefix}-events-processor"
    config = lam.get_function_configuration(FunctionName=function)
    assert config["TracingConfig"]["Mode"] == "Active" and config["Runtime"] in ("python3.12", "python3.13")
    env = {**config["Environment"]["Variables"], **CREDENTIALS}
    assert env["DATA_PREFIX"] == ep.data_prefix and env["DATA_BUCKET"] == ep.bucket
    # Deployed as on AWS: the smoke test's object calls pass the TLS-only policy.
    assert "DenyInsecureTransport" in s3.get_bucket_policy(Bucket=ep.bucket)["Policy"]

    _smoke_objects(settings, env, function)


def _smoke_objects(settings: Settings, env: dict[str, str], function: str) -> None:
    from tools.harness.local_lambda import invoke, s3_event, sqs_event

    ep = settings.section(EventProcessingSettings)
    s3, lam, sqs = (aws_client(s, settings) for s in ("s3", "lambda", "sqs"))
    config = lam.get_function_configuration(FunctionName=function)
    good, bad = f"{ep.data_prefix}smoke test/é.json", f"{ep.data_prefix}smoke-bad.json"
    line = b'{"id": "1", "timestamp": "2026-01-31T12:00:00Z", "text": "works great"}\n'
    if ep.delivery == "queue":
        # moto does not filter mappings by function name: pick ours by its ARN. It targets the
        # live alias, never $LATEST: a qualified ARN (moto reports the version the alias is on).
        live = lam.get_alias(FunctionName=function, Name="live")
        qualified = {live["AliasArn"], f"{config['FunctionArn']}:{live['FunctionVersion']}"}
        mappings = lam.list_event_source_mappings()["EventSourceMappings"]
        (mapping,) = [m for m in mappings if m["FunctionArn"] in qualified]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        # moto polls a mapped queue itself on every send and, for a qualified target, fails to
        # invoke and leaves the batch in flight; the handler runs below as a local process.
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    versions = {k: s3.put_object(Bucket=ep.bucket, Key=k, Body=b)["VersionId"] for k, b in ((good, line), (bad, b"{"))}
    if ep.delivery == "queue":
        queue_url = sqs.get_queue_url(QueueName=f"{settings.name_prefix}-events-queue")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])  # plans ignore it on the emulator: check it here
        assert redrive["deadLetterTargetArn"].endswith("-events-dlq") and redrive["maxReceiveCount"] == 5
        assert attributes["KmsMasterKeyId"] and int(attributes["VisibilityTimeout"]) == 6 * config["Timeout"]
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        keys = [r["s3"]["object"]["key"] for m in messages for r in json.loads(m["Body"]).get("Records", [])]
        assert len(keys) == 2, "the deployed notification carried both uploads to the deployed queue"
        events = [sqs_event(messages, mapping["EventSourceArn"], settings.region)]
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)  # as deployed: the plan checks it
    else:
        # S3 invokes the live alias: its invoke config and permission are the alias's.
        invoke_config = lam.get_function_event_invoke_config(FunctionName=function, Qualifier="live")
        assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"].endswith("-events-dlq")
        statement = json.loads(lam.get_policy(FunctionName=function, Qualifier="live")["Policy"])["Statement"][0]
        assert statement["Principal"]["Service"] == "s3.amazonaws.com"
        # moto cannot run the function it would notify: the same event, built from the objects.
        events = [s3_event(ep.bucket, k, 1, versions[k], settings.region) for k in (good, bad)]
    (response, *_) = invoke(
        "event_processor", events, endpoint=settings.emulator_endpoint, region=settings.region, env=env
    ).responses
    assert not response.get("batchItemFailures")
    results = s3.get_object(Bucket=ep.bucket, Key=f"{ep.results_prefix}{good}")["Body"].read()
    assert json.loads(results)["sentiment"]["label"] == "positive"
    reject = json.loads(s3.get_object(Bucket=ep.bucket, Key=f"{ep.quarantine_prefix}{bad}.error.json")["Body"].read())
    assert (reject["reason"], reject["source"]["version_id"]) == ("invalid-json", versions[bad])


SERVING_IMAGE = "public.ecr.aws/docker/library/python:3.11.14-slim-bookworm"


def _model_serving_is_fault_tolerant(settings: Settings) -> None:
    ecs, elbv2, ecr, ec2 = (aws_client(s, settings) for s in ("ecs", "elbv2", "ecr", "ec2"))
    (service,) = ecs.describe_services(cluster="resilient-ai-dev-serving", services=["model-server"])["services"]
    assert service["desiredCount"] == 2
    # moto returns no deploymentConfiguration: the circuit breaker is a synth matcher only.
    vpc_config = service["networkConfiguration"]["awsvpcConfiguration"]
    assert vpc_config["assignPublicIp"] == "DISABLED" and len(vpc_config["subnets"]) == 3
    (task_def,) = [ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]]
    (container,) = task_def["containerDefinitions"]
    assert container["image"] == SERVING_IMAGE and container["readonlyRootFilesystem"] is True
    (lb,) = elbv2.describe_load_balancers(Names=["resilient-ai-dev-ms"])["LoadBalancers"]
    assert len(lb["AvailabilityZones"]) == 3, "the ALB spans every AZ"
    attrs = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
    }
    assert attrs.get("routing.http.drop_invalid_header_fields.enabled") == "true", attrs
    assert attrs.get("access_logs.s3.enabled") == "true", attrs
    (tg,) = elbv2.describe_target_groups(Names=["resilient-ai-dev-ms"])["TargetGroups"]
    assert tg.get("HealthCheckPath") == "/v2/health/ready" and tg.get("TargetType") == "ip", tg
    (repo,) = ecr.describe_repositories(repositoryNames=["resilient-ai-dev/model-server"])["repositories"]
    assert repo.get("imageTagMutability") == "IMMUTABLE", repo
    assert repo.get("imageScanningConfiguration", {}).get("scanOnPush") is True, repo
    nats = ec2.describe_nat_gateways()["NatGateways"]  # the only VPC of this run: the network stack's
    assert len(nats) == 3, "one NAT per AZ"
    # The chaos experiments as FIS stores them: found by the tags `make chaos RUN=` looks them up by.
    templates = _fis_templates(settings)
    assert set(templates) == {"stop-tasks", "az-outage"}, templates
    stop = templates["stop-tasks"]
    assert stop["tags"]["hypothesis"] and stop["targets"]["stop-tasks"]["selectionMode"] == "PERCENT(50)"
    assert all(c["source"] == "aws:cloudwatch:alarm" for c in stop["stopConditions"]), stop["stopConditions"]
    # `make chaos RUN=` on the deployed template: found by its tags, its stop alarms (by ARN)
    # found and not in ALARM, started and followed to the end (the emulator injects nothing).
    out = io.StringIO()
    code = chaos_run("model-serving/stop-tasks", settings, Options(poll_s=0.05, timeout_s=60), PlainDisplay(out))
    assert code == ExitCode.COMPLETED, out.getvalue()
    assert "resilient-ai-dev-serving-alb-5xx" in out.getvalue(), "the run names the stop alarms it watches"
    assert ec2.describe_flow_logs()["FlowLogs"], "VPC flow logs are on"
    (vpc,) = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["resilient-ai-dev-network"]}])["Vpcs"]
    subnets = ec2.describe_subnets(SubnetIds=vpc_config["subnets"])["Subnets"]
    assert {s["VpcId"] for s in subnets} == {vpc["VpcId"]}, "the tasks run in the shared VPC"
    assert len({s["AvailabilityZoneId"] for s in subnets}) == 3


def _model_serving_is_gone(settings: Settings) -> None:
    ecs, elbv2 = aws_client("ecs", settings), aws_client("elbv2", settings)
    clusters = ecs.describe_clusters(clusters=["resilient-ai-dev-serving"])["clusters"]
    assert all(c["status"] == "INACTIVE" for c in clusters), "destroy deleted the cluster (AWS lists it INACTIVE)"
    assert not elbv2.describe_load_balancers()["LoadBalancers"], "destroy deleted the ALB"
    assert not _fis_templates(settings), "destroy deleted the experiment templates"


def _fis_templates(settings: Settings) -> dict[str, dict[str, Any]]:
    """model-serving's FIS experiment templates by their `experiment` tag."""
    fis = aws_client("fis", settings)
    found = {}
    for summary in fis.list_experiment_templates()["experimentTemplates"]:
        template = fis.get_experiment_template(id=summary["id"])["experimentTemplate"]
        if template.get("tags", {}).get("stack") == "model-serving":
            found[template["tags"]["experiment"]] = template
    return found
