"""The canary controller as a real local process against a moto server: a real weighted
listener on moto's ELBv2, real alarms driven with ``set_alarm_state``, the rollout state in
a real SSM parameter, the rollback published to a real SNS topic (read through SQS).

The controller runs as the rate schedule would run it, only faster (PERIOD_S, BAKE_S).
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.conftest import settings_from
from tools.harness.emulator_credentials import CREDENTIALS
from tools.harness.local_lambda import schedule
from tools.harness.moto_server import MotoServer

pytestmark = [pytest.mark.slow]

REGION = "us-east-1"
STEPS = (0, 10, 25, 50, 100)
PERIOD_S = 0.5
BAKE_S = 2.0


@dataclass
class Rig:
    endpoint: str
    env: dict[str, str]
    elbv2: Any
    cloudwatch: Any
    ssm: Any
    sqs: Any
    listener_arn: str
    canary_arn: str
    alarm: str
    parameter: str
    inbox_url: str

    def weight(self) -> int:
        (listener,) = self.elbv2.describe_listeners(ListenerArns=[self.listener_arn])["Listeners"]
        groups = listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
        return int(next(g["Weight"] for g in groups if g["TargetGroupArn"] == self.canary_arn))

    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.ssm.get_parameter(Name=self.parameter)["Parameter"]["Value"]))

    def start_rollout(self) -> None:
        value = json.dumps({"status": "rolling", "step": 0, "since": time.time()})
        self.ssm.put_parameter(Name=self.parameter, Value=value, Overwrite=True)

    def set_alarm(self, value: str) -> None:
        self.cloudwatch.set_alarm_state(AlarmName=self.alarm, StateValue=value, StateReason="test")

    def controller(self) -> subprocess.Popen[bytes]:
        return schedule("canary_controller", PERIOD_S, endpoint=self.endpoint, region=REGION, env=self.env)


@pytest.fixture
def rig(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Rig:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=moto.endpoint, region_name=REGION)

    ec2, elbv2, cloudwatch, ssm, sns, sqs = map(client, ("ec2", "elbv2", "cloudwatch", "ssm", "sns", "sqs"))
    run = f"r{time.time_ns() % 10**9}"
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.1.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for i, az in enumerate("ab")
    ]
    lb = elbv2.create_load_balancer(Name=run, Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    stable, canary = (
        elbv2.create_target_group(Name=f"{run}-{k}", Protocol="HTTP", Port=8080, VpcId=vpc)["TargetGroups"][0][
            "TargetGroupArn"
        ]
        for k in ("stable", "canary")
    )
    forward = {"TargetGroups": [{"TargetGroupArn": stable, "Weight": 100}, {"TargetGroupArn": canary, "Weight": 0}]}
    listener = elbv2.create_listener(
        LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "ForwardConfig": forward}]
    )["Listeners"][0]["ListenerArn"]
    alarm = f"{run}-canary-target-5xx"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="start")
    parameter = f"/{run}/canary/rollout"
    ssm.put_parameter(Name=parameter, Value=json.dumps({"status": "idle"}), Type="String")
    topic = sns.create_topic(Name=f"{run}-alarms")["TopicArn"]
    inbox_url = sqs.create_queue(QueueName=f"{run}-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    env = {
        **CREDENTIALS,
        "LISTENER_ARN": listener,
        "STABLE_TARGET_GROUP_ARN": stable,
        "CANARY_TARGET_GROUP_ARN": canary,
        "STATE_PARAMETER": parameter,
        "CANARY_ALARMS": alarm,
        "ALARM_TOPIC_ARN": topic,
        "STEPS": ",".join(map(str, STEPS)),
        "BAKE_S": str(BAKE_S),
    }
    return Rig(moto.endpoint, env, elbv2, cloudwatch, ssm, sqs, listener, canary, alarm, parameter, inbox_url)


def watch(rig: Rig, until: Callable[[], bool], timeout_s: float) -> list[tuple[float, int]]:
    """(time, canary weight) at each change, polled every 50 ms until ``until()`` or the timeout."""
    seen: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        weight = rig.weight()
        if not seen or seen[-1][1] != weight:
            seen.append((time.monotonic(), weight))
        if until():
            return seen
        time.sleep(0.05)
    raise AssertionError(f"timed out; weights seen {[w for _, w in seen]}, state {rig.state()}")


@pytest.fixture
def controller(rig: Rig) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait()


def test_advances_through_every_step_only_after_each_bake_with_alarms_ok(
    rig: Rig, controller: list[subprocess.Popen[bytes]]
) -> None:
    rig.start_rollout()
    proc = rig.controller()
    controller.append(proc)
    seen = watch(rig, lambda: rig.state()["status"] == "promoted", timeout_s=len(STEPS) * (BAKE_S + 2) + 10)
    assert [w for _, w in seen] == list(STEPS), "every step, in order, none skipped"
    assert rig.weight() == 100
    proc.kill()
    ticks = [json.loads(line) for line in proc.communicate()[0].decode().splitlines()]
    moves = [t["at"] for t in ticks if t["response"]["action"] in ("advanced", "promoted")]
    held = [b - a for a, b in itertools.pairwise(moves)]
    assert len(moves) == len(STEPS) and all(h >= BAKE_S for h in held), f"each step holds for its bake time: {held}"
    assert sum(t["response"]["action"] == "hold" for t in ticks) >= (len(STEPS) - 1) * (BAKE_S / PERIOD_S - 1)


def test_an_alarm_sets_the_canary_to_zero_within_one_period_and_publishes_the_rollback(
    rig: Rig, controller: list[subprocess.Popen[bytes]]
) -> None:
    rig.start_rollout()
    controller.append(rig.controller())
    watch(rig, lambda: rig.weight() == STEPS[2], timeout_s=3 * (BAKE_S + 2))
    fired = time.monotonic()
    rig.set_alarm("ALARM")
    seen = watch(rig, lambda: rig.weight() == 0, timeout_s=10)
    alarm_to_zero = seen[-1][0] - fired
    print(f"\ncanary alarm -> weight 0: {alarm_to_zero:.2f} s (controller period {PERIOD_S} s)")
    assert alarm_to_zero <= PERIOD_S + 0.5
    state = rig.state()
    assert (state["status"], state["weight"]) == ("rolled_back", 0) and rig.alarm in state["reason"]
    deadline = time.monotonic() + 5
    while not (messages := rig.sqs.receive_message(QueueUrl=rig.inbox_url, WaitTimeSeconds=1).get("Messages")):
        assert time.monotonic() < deadline, "the rollback reaches the alarm topic"
    assert json.loads(messages[0]["Body"])["event"] == "canary-rollback"
    rig.set_alarm("OK")
    time.sleep(3 * PERIOD_S)
    assert rig.weight() == 0, "an alarm that clears does not bring the canary back: a person restarts the rollout"


def test_a_controller_killed_mid_step_resumes_at_the_same_step(
    rig: Rig, controller: list[subprocess.Popen[bytes]]
) -> None:
    rig.start_rollout()
    first = rig.controller()
    controller.append(first)
    watch(rig, lambda: rig.weight() == STEPS[2], timeout_s=3 * (BAKE_S + 2))
    first.kill()
    first.wait()
    before = rig.state()
    assert before["step"] == 2 and rig.weight() == STEPS[2]
    controller.append(rig.controller())
    time.sleep(2 * PERIOD_S)
    after = rig.state()
    assert after["step"] in (2, 3) and after["since"] >= before["since"], "no step lost, none repeated from 0"
    if after["step"] == 2:
        assert after == before, "the step's bake time goes on from where it was"
    seen = watch(rig, lambda: rig.state()["status"] == "promoted", timeout_s=3 * (BAKE_S + 2) + 5)
    assert [w for _, w in seen] in ([25, 50, 100], [50, 100])


# --- the canary judged on its predictions ------------------------------------------------------

NAMESPACE = "Test/ModelServer"
SHARES = {"0": 0.331, "1": 0.399, "2": 0.270}  # the bundled model's predicted class shares (wine)
PERMUTED = {"0": 0.270, "1": 0.331, "2": 0.399}  # the same model, its labels in another order
ROWS_PER_WRITE = 100  # canary rows per write; stable gets 9 x as many (a 10 % step)


def judging(rig: Rig, **overrides: str) -> None:
    """The controller judges predictions of services ``<run>-stable`` and ``<run>-canary``."""
    rig.env |= {
        "PREDICTION_NAMESPACE": NAMESPACE,
        "STABLE_SERVICE": f"{rig.parameter}-stable",
        "CANARY_SERVICE": f"{rig.parameter}-canary",
        "DRIFT_THRESHOLD": "0.08",
        "DRIFT_MIN_ROWS": "300",
        "DRIFT_MAX_WAIT_S": "60",
        **overrides,
    }


def rolled_back(rig: Rig, timeout_s: float) -> list[tuple[float, int]]:
    """The weights seen until the state says ``rolled_back`` and then the listener is at 0 (the
    controller writes the state first)."""
    seen = watch(rig, lambda: rig.state()["status"] == "rolled_back", timeout_s=timeout_s)
    more = watch(rig, lambda: rig.weight() == 0, timeout_s=PERIOD_S + 1)
    return seen + [change for change in more if change[1] != seen[-1][1]]


class Servers(threading.Thread):
    """Both groups' servers publishing their EMF prediction counts (what CloudWatch extracts from
    them: ``Predictions`` by Service, Model, Version, Class) every 0.25 s, until stopped."""

    def __init__(self, rig: Rig, canary: dict[str, float] | None, seed: int = 1) -> None:
        super().__init__(daemon=True)
        self.rig, self.canary, self.random = rig, canary, random.Random(seed)
        self.stop = threading.Event()

    def publish(self, group: str, shares: dict[str, float], rows: int) -> None:
        drawn = self.random.choices(list(shares), weights=list(shares.values()), k=rows)
        dims = {"Service": f"{self.rig.parameter}-{group}", "Model": "wine", "Version": "1"}
        self.rig.cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": "Predictions",
                    "Dimensions": [{"Name": k, "Value": v} for k, v in {**dims, "Class": label}.items()],
                    "Value": drawn.count(label),
                    "Unit": "Count",
                }
                for label in shares
            ],
        )

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.publish("stable", SHARES, 9 * ROWS_PER_WRITE)
            if self.canary is not None:
                self.publish("canary", self.canary, ROWS_PER_WRITE)


@pytest.fixture
def servers() -> Iterator[list[Servers]]:
    started: list[Servers] = []
    yield started
    for thread in started:
        thread.stop.set()
        thread.join()


def test_an_identical_model_is_promoted_with_its_predictions_judged_at_each_split_step(
    rig: Rig, controller: list[subprocess.Popen[bytes]], servers: list[Servers]
) -> None:
    judging(rig)
    servers.append(Servers(rig, SHARES))
    servers[0].start()
    rig.start_rollout()
    controller.append(rig.controller())
    seen = watch(rig, lambda: rig.state()["status"] == "promoted", timeout_s=len(STEPS) * (BAKE_S + 2) + 10)
    assert [w for _, w in seen] == list(STEPS)
    judged = rig.state()["judged"]
    assert judged.startswith("step 3: prediction divergence (largest class-share difference) 0.0"), judged


def test_a_label_permuted_model_is_rolled_back_within_one_bake_step_naming_its_divergence(
    rig: Rig, controller: list[subprocess.Popen[bytes]], servers: list[Servers]
) -> None:
    """The same latency and no errors (no alarm fires): only its predictions tell it apart."""
    judging(rig)
    servers.append(Servers(rig, PERMUTED))
    servers[0].start()
    rig.start_rollout()
    controller.append(rig.controller())
    seen = rolled_back(rig, timeout_s=3 * (BAKE_S + 2))
    assert [w for _, w in seen] == [0, 10, 0], "rolled back at the first step that splits traffic"
    at_10, back_to_0 = seen[1][0], seen[2][0]
    assert back_to_0 - at_10 <= BAKE_S + 2 * PERIOD_S + 0.5, "within one bake step"
    reason = rig.state()["reason"]
    value = float(reason.split("difference) ")[1].split()[0])
    assert reason.startswith("prediction divergence (largest class-share difference)") and value > 0.08, reason
    assert "at step 1 (10 %)" in reason and rig.weight() == 0


def test_too_few_predictions_extend_the_bake_then_roll_back_unjudged(
    rig: Rig, controller: list[subprocess.Popen[bytes]], servers: list[Servers]
) -> None:
    """No canary rows (clients never reach it): the step waits, then the canary goes back to 0."""
    judging(rig, DRIFT_MAX_WAIT_S="2")
    servers.append(Servers(rig, None))
    servers[0].start()
    rig.start_rollout()
    controller.append(rig.controller())
    watch(rig, lambda: rig.weight() == 10, timeout_s=BAKE_S + 3)
    reached = time.monotonic()
    watch(rig, lambda: "waiting" in rig.state(), timeout_s=BAKE_S + 2)
    assert "too few predictions to judge: canary 0 rows" in rig.state()["waiting"] and rig.weight() == 10
    seen = rolled_back(rig, timeout_s=BAKE_S + 2 + 3)
    assert seen[-1][1] == 0 and seen[-1][0] - reached >= BAKE_S + 2 - PERIOD_S, "the bake was extended first"
    assert rig.state()["reason"].startswith("predictions not judged after 4 s: too few predictions")


def test_a_canary_answering_404_is_rolled_back_by_its_client_error_alarm(
    rig: Rig, controller: list[subprocess.Popen[bytes]]
) -> None:
    """The canary serving another name answers 404 to every call; its client-error alarm (a rollout
    guard, tests/test_target_groups_stack.py) fires, here set as moto evaluates no alarm."""
    alarm = f"{rig.parameter.strip('/').split('/')[0]}-canary-client-error-rate"
    rig.cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Metrics=[
            {"Id": "clienterrors", "MetricStat": _stat("HTTPCode_Target_4XX_Count"), "ReturnData": False},
            {"Id": "requests", "MetricStat": _stat("RequestCount"), "ReturnData": False},
            {"Id": "clienterrorrate", "Expression": "100 * FILL(clienterrors, 0) / requests", "ReturnData": True},
        ],
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    rig.env["CANARY_ALARMS"] = f"{rig.alarm},{alarm}"
    rig.start_rollout()
    controller.append(rig.controller())
    watch(rig, lambda: rig.weight() == STEPS[1], timeout_s=BAKE_S + 3)
    rig.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="100 % of calls answered 404")
    watch(rig, lambda: rig.weight() == 0, timeout_s=PERIOD_S + 2)
    state = rig.state()
    assert state["status"] == "rolled_back" and alarm in state["reason"]


def _stat(name: str) -> dict[str, Any]:
    metric = {"Namespace": "AWS/ApplicationELB", "MetricName": name}
    return {"Metric": metric, "Period": 60, "Stat": "Sum"}


def test_canary_status_reads_the_controllers_alarms_and_says_a_rolling_canary_is_unguarded(
    rig: Rig, moto: MotoServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modules.architectures.target_groups.settings import canary_state_parameter, controller_alarm_names
    from tools.deploy import canary

    prefix = f"p{time.time_ns() % 10**6}-dev"
    settings = settings_from({"RAI_EMULATOR_ENDPOINT": moto.endpoint, "RAI_PROJECT": prefix.removesuffix("-dev")})
    assert settings.name_prefix == prefix
    monkeypatch.setattr(canary, "load_settings", lambda: settings)
    for name in controller_alarm_names(prefix):
        rig.cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
        )
        rig.cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="start")
    state = json.dumps({"status": "rolling", "step": 1, "since": time.time()})
    rig.ssm.put_parameter(Name=canary_state_parameter(prefix), Value=state, Type="SecureString")
    assert canary.main(["canary", "status"]) == 0
    assert "UNGUARDED" not in capsys.readouterr().out
    missed = controller_alarm_names(prefix)[2]
    rig.cloudwatch.set_alarm_state(AlarmName=missed, StateValue="ALARM", StateReason="no invocation for 3 minutes")
    assert canary.main(["canary", "status"]) == 0
    assert f"UNGUARDED: the canary controller's alarm(s) {missed} in ALARM" in capsys.readouterr().out
