"""``python -m tools.preflight [SOURCE]`` (``make preflight ENV=<env>``): before a deploy, with the
deploy's credentials, what only the account can tell.

Checks the caller's account against ``account_id``; the quotas (Lambda concurrent executions,
Fargate on-demand vCPU, EC2 on-demand and spot standard vCPU) against what the synth needs at
its maximum sizes; the state of every ACM certificate the load balancers use; the hosted zone
of ``ha_failover.hosted_zone_id``. Reads the synth the deploy would apply (``cdktf.out``,
synthesized first when missing or out of date; or SOURCE as it is).

Prints one row per check: check, needed, available, verdict. Verdicts: ``ok``; ``SHORT`` (the
account cannot take it: exit 1); ``unverified`` when a call was not answered (no permission, an
emulator without the API): never a pass, exit 3 when nothing is short.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from modules.config import Settings, SettingsError, load_settings
from tools.current_synth import current_stacks
from tools.deploy.clients import aws_client
from tools.preflight.checks import (
    SHORT,
    UNVERIFIED,
    Row,
    caller_identity,
    certificate_rows,
    hosted_zone_row,
    quota_rows,
)
from tools.preflight.needs import needs_of

EXIT_SHORT, EXIT_UNVERIFIED = 1, 3


def run_checks(settings: Settings, source: Path | None = None) -> list[Row]:
    """Every row, against the account the settings point at (AWS, or the emulator)."""
    clients: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in clients:
            clients[service, region] = aws_client(service, settings.model_copy(update={"region": region}))
        return clients[service, region]

    needs = needs_of(current_stacks(source), settings.region)
    return [
        caller_identity(client, settings.region, settings.account_id),
        *quota_rows(client, needs),
        *certificate_rows(client, needs),
        *hosted_zone_row(client, settings.region, settings.ha_failover.hosted_zone_id),
    ]


def table(rows: list[Row]) -> str:
    head = ("check", "needed", "available", "verdict")
    cells = [head, *((r.check, r.needed, r.available, r.verdict) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(head))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"  {r.check}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


def exit_code(rows: list[Row]) -> int:
    if any(r.verdict == SHORT for r in rows):
        return EXIT_SHORT
    return EXIT_UNVERIFIED if any(r.verdict == UNVERIFIED for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="account checks before a deploy (quotas, account, certificate, zone)")
    parser.add_argument(
        "source", nargs="?", help="a synth output dir, read as it is (default: cdktf.out, kept current)"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    rows = run_checks(settings, Path(args.source) if args.source else None)
    print(table(rows))
    code = exit_code(rows)
    verdicts = {EXIT_SHORT: "a shortfall: the deploy would fail", EXIT_UNVERIFIED: "nothing short, some unverified"}
    print(f"\npreflight: {verdicts.get(code, 'every check ok')}")
    return code


if __name__ == "__main__":
    sys.exit(main())
