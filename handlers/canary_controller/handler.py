"""The canary controller: moves the listener's canary weight through the rollout's steps.

Invoked on a schedule (EventBridge Scheduler, every minute). Each run:

1. reads the rollout state (JSON in an SSM parameter a person can read and edit);
2. if one of the canary's alarms is in ALARM while the canary gets traffic or a rollout
   runs: writes ``rolled_back``, sets the canary's weight to 0 and publishes the rollback
   to the alarm topic;
3. else, while ``rolling``: after the step's bake time, moves to the next step; after the
   last step (100 %) has baked, marks the rollout ``promoted``.

The listener is always brought to the weight the state says (``rolling``: the step's,
``rolled_back``: 0, ``promoted``: 100; ``idle``: left alone), state first, listener second,
so a run killed half-way is finished by the next one and no step is lost or skipped.

State: ``{"status": "idle|rolling|rolled_back|promoted", "step": i, "weight": w,
"since": epoch seconds the step began, "reason": text, "notified": bool}``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3

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
        state = {**state, "status": "rolled_back", "weight": 0, "since": now, "reason": reason, "notified": False}
        write_state(state)
        set_canary_weight(0)
        return {**notify(state), "action": "rolled_back", "alarms": firing}
    if state["status"] == "rolled_back" and not state.get("notified", True):
        state = notify(state)
    action = "hold"
    if state["status"] == "rolling":
        step = int(state["step"])
        if now - float(state["since"]) >= BAKE_S:
            if step + 1 < len(STEPS):
                state = {**state, "step": step + 1, "weight": STEPS[step + 1], "since": now}
                action = "advanced"
            else:
                state = {**state, "status": "promoted", "since": now, "reason": "every step baked with alarms OK"}
                action = "promoted"
            write_state(state)
    wanted = desired_weight(state)
    if wanted is not None and wanted != weight:
        set_canary_weight(wanted)
        action = action if action != "hold" else "reconciled"
    return {**state, "action": action}


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
