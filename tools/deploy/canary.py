"""The `target-groups` canary rollout, from a terminal: ``make canary-status`` (and start/abort).

    python -m tools.deploy.canary status   # the state, the step's weight and what comes next
    python -m tools.deploy.canary start    # begin a rollout at the first step
    python -m tools.deploy.canary abort    # roll back: the controller sets the canary to 0

The state is the SSM parameter the controller keeps (``canary_state_parameter`` of the stack's
``settings.py``); ``start`` and ``abort`` only write it, the controller (every minute) moves the listener. With
``emulator_endpoint`` set, it talks to the emulator.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from modules.architectures.target_groups.settings import (
    TargetGroupsSettings,
    canary_state_parameter,
    controller_alarm_names,
)
from modules.config import Settings, SettingsError, load_settings
from tools.deploy.clients import aws_client


def describe(
    state: dict[str, Any], steps: tuple[int, ...], bake_s: int, now: float, failing: Sequence[str] = ()
) -> str:
    """One paragraph a person reads: where the rollout is and what happens next; ``failing``:
    the canary controller's alarms in ALARM (a rolling canary is then unguarded)."""
    status, step = state.get("status", "idle"), int(state.get("step", 0))
    if status == "rolling":
        left = max(0.0, bake_s - (now - float(state.get("since", 0))))
        nxt = f"{steps[step + 1]} % in {left:.0f} s" if step + 1 < len(steps) else f"promotion in {left:.0f} s"
        text = f"rolling: step {step + 1}/{len(steps)}, canary at {steps[step]} %; next: {nxt} if its alarms stay OK"
        if "waiting" in state:
            text += f"; bake extended: {state['waiting']}"
        if "judged" in state:
            text += f"; last judged {state['judged']}"
        if failing:
            text = (
                f"UNGUARDED: the canary controller's alarm(s) {', '.join(failing)} in ALARM: nothing rolls a bad "
                f"canary back until it runs again (`abort` sets it to 0 at its next run). {text}"
            )
        return text
    if status == "rolled_back":
        return f"rolled back: canary at 0 % ({state.get('reason', 'no reason recorded')}); `start` begins again"
    if status == "promoted":
        return "promoted: canary at 100 %; make its model the stable one (docs/operations.md)"
    return "idle: no rollout; the listener keeps the weights it has; `start` begins one"


def failing_controller_alarms(settings: Settings) -> list[str]:
    """The canary controller's alarms in ALARM."""
    names = controller_alarm_names(settings.name_prefix)
    alarms = aws_client("cloudwatch", settings).describe_alarms(AlarmNames=names)["MetricAlarms"]
    return sorted(a["AlarmName"] for a in alarms if a["StateValue"] == "ALARM")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    ssm, name = aws_client("ssm", settings), canary_state_parameter(settings.name_prefix)
    tg = settings.section(TargetGroupsSettings)
    if command in ("start", "abort"):
        current = json.loads(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
        if command == "start":
            state = {"status": "rolling", "step": 0, "since": time.time()}
        else:
            state = {**current, "status": "rolled_back", "reason": "aborted by a person", "notified": True}
        # The stack's key (its alias), as the controller writes it: never AWS's default key.
        key = f"alias/{settings.name_prefix}-tg"
        ssm.put_parameter(
            Name=name, Value=json.dumps(state, sort_keys=True), Type="SecureString", KeyId=key, Overwrite=True
        )
    elif command != "status":
        print(f"unknown command {command!r}: status, start or abort", file=sys.stderr)
        return 2
    state = json.loads(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])
    print(f"{name}: {json.dumps(state, sort_keys=True)}")
    print(describe(state, tg.canary_steps, tg.canary_bake_s, time.time(), failing_controller_alarms(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
