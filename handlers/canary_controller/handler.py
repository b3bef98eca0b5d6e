"""The canary controller: moves the listener's canary weight through the rollout's steps.

Invoked on a schedule (EventBridge Scheduler, every minute). Each run:

1. reads the rollout state (JSON in an SSM parameter a person can read and edit);
2. if one of the canary's alarms is in ALARM while the canary gets traffic or a rollout
   runs: writes ``rolled_back``, sets the canary's weight to 0 and publishes the rollback
   to the alarm topic;
3. else, while ``rolling``: after the step's bake time, judges the canary's predictions
   against stable's over the step's minutes (:mod:`drift`; steps that split traffic only, and
   only when ``PREDICTION_NAMESPACE`` is set): a divergence above ``DRIFT_THRESHOLD`` rolls
   back; with fewer than ``DRIFT_MIN_ROWS`` predictions on a side the step's bake is extended,
   for at most ``DRIFT_MAX_WAIT_S``, then the canary is rolled back unjudged. Otherwise it
   moves to the next step; after the last step (100 %) has baked, marks the rollout ``promoted``.

The listener is always brought to the weight the state says (``rolling``: the step's,
``rolled_back``: 0, ``promoted``: 100; ``idle``: left alone), state first, listener second,
so a run killed half-way is finished by the next one and no step is lost or skipped.

State: ``{"status": "idle|rolling|rolled_back|promoted", "step": i, "weight": w,
"since": epoch seconds the step began, "reason": text, "notified": bool, "judged": the last
step's verdict, "waiting": why the step is extended}``.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from canary_controller.drift import Verdict, judge, read
else:  # the Lambda runtime (and the local runner) put this folder first on sys.path
    from drift import Verdict, judge, read

LISTENER_ARN = os.environ["LISTENER_ARN"]
STABLE_TARGET_GROUP_ARN = os.environ["STABLE_TARGET_GROUP_ARN"]
CANARY_TARGET_GROUP_ARN = os.environ["CANARY_TARGET_GROUP_ARN"]
STATE_PARAMETER = os.environ["STATE_PARAMETER"]
CANARY_ALARMS = tuple(a for a in os.environ["CANARY_ALARMS"].split(",") if a)
ALARM_TOPIC_ARN = os.environ["ALARM_TOPIC_ARN"]
STEPS = tuple(int(s) for s in os.environ["STEPS"].split(","))
BAKE_S = float(os.environ["BAKE_S"])
STICKINESS_S = int(os.environ.get("STICKINESS_S", "0"))
# The customer key of a SecureString state: an overwrite names it, or AWS's default key would be used.
STATE_KEY_ID = os.environ.get("STATE_KEY_ID", "")
# The servers' prediction metrics (empty: predictions are not judged) and each group's Service.
PREDICTION_NAMESPACE = os.environ.get("PREDICTION_NAMESPACE", "")
SERVICES = {"stable": os.environ.get("STABLE_SERVICE", ""), "canary": os.environ.get("CANARY_SERVICE", "")}
DRIFT_THRESHOLD = float(os.environ.get("DRIFT_THRESHOLD", "0.1"))
DRIFT_MIN_ROWS = int(os.environ.get("DRIFT_MIN_ROWS", "500"))
DRIFT_MAX_WAIT_S = float(os.environ.get("DRIFT_MAX_WAIT_S", "3600"))

ELBV2 = boto3.client("elbv2")
CLOUDWATCH = boto3.client("cloudwatch")
SSM = boto3.client("ssm")
SNS = boto3.client("sns")


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return tick(time.time())


def tick(now: float) -> dict[str, Any]:
    """One controller run; returns the state it leaves and what it did."""
    state = read_state()
    weight = canary_weight()
    firing = firing_alarms()
    if firing and (state["status"] == "rolling" or weight > 0):
        reason = f"alarm(s) {', '.join(firing)} in ALARM at step {state['step']} ({weight} %)"
        return {**roll_back(state, now, reason), "alarms": firing}
    if state["status"] == "rolled_back" and not state.get("notified", True):
        state = notify(state)
    action = "hold"
    if state["status"] == "rolling" and now - float(state["since"]) >= BAKE_S:
        step = int(state["step"])
        verdict = judge_step(step, float(state["since"]), now)
        at = f"at step {step} ({STEPS[step]} %)"
        if verdict.action == "wait" and now - float(state["since"]) >= BAKE_S + DRIFT_MAX_WAIT_S:
            waited = f"predictions not judged after {BAKE_S + DRIFT_MAX_WAIT_S:.0f} s"
            return roll_back(state, now, f"{waited}: {verdict.reason} {at}")
        if verdict.action == "rollback":
            return roll_back(state, now, f"{verdict.reason} {at}")
        if verdict.action == "wait":
            action = "waiting"
            if state.get("waiting") != verdict.reason:
                state = {**state, "waiting": verdict.reason}
                write_state(state)
        else:
            state, action = advance(state, step, now, verdict)
            write_state(state)
    wanted = desired_weight(state)
    if wanted is not None and wanted != weight:
        set_canary_weight(wanted)
        action = action if action != "hold" else "reconciled"
    return {**state, "action": action}


def advance(state: dict[str, Any], step: int, now: float, verdict: Verdict) -> tuple[dict[str, Any], str]:
    """The next step, or ``promoted`` after the last; the step's verdict is kept as ``judged``."""
    state = {k: v for k, v in state.items() if k != "waiting"}
    if verdict.divergence is not None:
        state["judged"] = f"step {step}: {verdict.reason}"
    if step + 1 < len(STEPS):
        return {**state, "step": step + 1, "weight": STEPS[step + 1], "since": now}, "advanced"
    return {**state, "status": "promoted", "since": now, "reason": "every step baked with alarms OK"}, "promoted"


def roll_back(state: dict[str, Any], now: float, reason: str) -> dict[str, Any]:
    """State first (``rolled_back``, weight 0), then the listener, then the alarm topic."""
    state = {**state, "status": "rolled_back", "weight": 0, "since": now, "reason": reason, "notified": False}
    write_state(state)
    set_canary_weight(0)
    return {**notify(state), "action": "rolled_back"}


def judge_step(step: int, since: float, now: float) -> Verdict:
    """The canary's predictions against stable's over [since, now); a step that does not split
    traffic (0 or 100 %), or predictions not watched, passes."""
    if not PREDICTION_NAMESPACE or not 0 < STEPS[step] < 100:
        return Verdict("pass", None, "not judged: no split of traffic")
    sides = {key: read(CLOUDWATCH, PREDICTION_NAMESPACE, {"Service": s}, since, now) for key, s in SERVICES.items()}
    return judge(sides["stable"], sides["canary"], threshold=DRIFT_THRESHOLD, min_rows=DRIFT_MIN_ROWS)


def desired_weight(state: dict[str, Any]) -> int | None:
    status = state["status"]
    if status == "rolling":
        return STEPS[int(state["step"])]
    return {"rolled_back": 0, "promoted": 100}.get(status)


def read_state() -> dict[str, Any]:
    value = SSM.get_parameter(Name=STATE_PARAMETER, WithDecryption=True)["Parameter"]["Value"]
    state: dict[str, Any] = json.loads(value)
    state.setdefault("status", "idle")
    state.setdefault("step", 0)
    state.setdefault("since", 0)
    return state


def write_state(state: dict[str, Any]) -> None:
    encryption = {"Type": "SecureString", "KeyId": STATE_KEY_ID} if STATE_KEY_ID else {}
    SSM.put_parameter(Name=STATE_PARAMETER, Value=json.dumps(state, sort_keys=True), Overwrite=True, **encryption)


def firing_alarms() -> list[str]:
    if not CANARY_ALARMS:
        return []
    alarms = CLOUDWATCH.describe_alarms(AlarmNames=list(CANARY_ALARMS))["MetricAlarms"]
    return sorted(a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM")


def canary_weight() -> int:
    (listener,) = ELBV2.describe_listeners(ListenerArns=[LISTENER_ARN])["Listeners"]
    for action in listener["DefaultActions"]:
        for group in action.get("ForwardConfig", {}).get("TargetGroups", []):
            if group["TargetGroupArn"] == CANARY_TARGET_GROUP_ARN:
                return int(group.get("Weight", 0))
    return 0


def set_canary_weight(weight: int) -> None:
    forward: dict[str, Any] = {
        "TargetGroups": [
            {"TargetGroupArn": STABLE_TARGET_GROUP_ARN, "Weight": 100 - weight},
            {"TargetGroupArn": CANARY_TARGET_GROUP_ARN, "Weight": weight},
        ]
    }
    if STICKINESS_S:
        forward["TargetGroupStickinessConfig"] = {"Enabled": True, "DurationSeconds": STICKINESS_S}
    ELBV2.modify_listener(ListenerArn=LISTENER_ARN, DefaultActions=[{"Type": "forward", "ForwardConfig": forward}])


def notify(state: dict[str, Any]) -> dict[str, Any]:
    """Publish the rollback once; the state remembers it was sent (a failed publish is retried)."""
    SNS.publish(
        TopicArn=ALARM_TOPIC_ARN,
        Subject="Canary rolled back to 0 %",
        Message=json.dumps({"event": "canary-rollback", **state}, sort_keys=True),
    )
    state = {**state, "notified": True}
    write_state(state)
    return state
