"""``make alarms-test ENV=<name>`` (``python -m tools.alarms``): set one deployed alarm of the
environment to ALARM, say where the message went, set it back to OK (:mod:`tools.alarms.route_test`)."""

from __future__ import annotations

import sys
from functools import partial

from modules.config import SettingsError, load_settings
from tools.alarms.route_test import prove_route
from tools.deploy.clients import aws_client


def main() -> int:
    try:
        settings = load_settings()
        report = prove_route(settings, partial(aws_client, settings=settings))
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except LookupError as exc:
        print(f"alarms-test: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    # Proven: the message left (CloudWatch ran the action, or the emulator's topic took it) and
    # someone is subscribed who confirmed.
    reached = report.delivered and any(sub.confirmed for topic in report.topics for sub in topic.subscriptions)
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main())
