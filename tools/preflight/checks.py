"""The preflight checks: each asks the account one thing and compares it with what the synth
needs (:mod:`tools.preflight.needs`). A check whose call is refused or not implemented (an
emulator, missing permissions) is ``unverified``, never passed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tools.preflight.needs import Needs

Client = Callable[[str, str], Any]  # (service, region) -> a boto3 client

OK, SHORT, UNVERIFIED = "ok", "SHORT", "unverified"
NOT_ANSWERED = "unknown (not answered)"
LAMBDA_UNRESERVED_MINIMUM = 10
# Service Quotas codes (per account and region).
LAMBDA_CONCURRENCY = ("lambda", "L-B99A9384")  # Concurrent executions
FARGATE_ON_DEMAND_VCPU = ("fargate", "L-3032A538")  # Fargate On-Demand vCPU resource count
EC2_ON_DEMAND_STANDARD = ("ec2", "L-1216C47A")  # Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances
EC2_SPOT_STANDARD = ("ec2", "L-34B43A08")  # All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests
STANDARD_FAMILIES = tuple("acdhimrtz")


@dataclass(frozen=True)
class Row:
    check: str
    needed: str
    available: str
    verdict: str
    note: str = ""


class NotAnswered(Exception):
    """The account (or the emulator) did not answer a call: the row is unverified."""


def _ask(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (ClientError, BotoCoreError) as exc:
        raise NotAnswered(str(exc).splitlines()[0]) from exc


def quota(client: Client, region: str, code: tuple[str, str]) -> float:
    """A quota's value in ``region``: the account's, else AWS's default."""
    sq = client("service-quotas", region)
    try:
        return float(_ask(lambda: sq.get_service_quota(ServiceCode=code[0], QuotaCode=code[1]))["Quota"]["Value"])
    except NotAnswered:
        return float(
            _ask(lambda: sq.get_aws_default_service_quota(ServiceCode=code[0], QuotaCode=code[1]))["Quota"]["Value"]
        )


def _compare(check: str, needed: float, available: Callable[[], float], note: str = "") -> Row:
    shown = f"{needed:g}"
    try:
        have = available()
    except NotAnswered as exc:
        return Row(check, shown, NOT_ANSWERED, UNVERIFIED, f"{note} ({exc})".strip())
    return Row(check, shown, f"{have:g}", OK if have >= needed else SHORT, note)


def caller_identity(client: Client, region: str, account_id: str) -> Row:
    needed = account_id or "any (account_id unset)"
    try:
        account = str(_ask(lambda: client("sts", region).get_caller_identity())["Account"])
    except NotAnswered as exc:
        return Row("caller account", needed, NOT_ANSWERED, UNVERIFIED, str(exc))
    verdict = OK if not account_id or account == account_id else SHORT
    note = "" if verdict == OK else "the credentials are of another account than the environment's account_id"
    return Row("caller account", needed, account, verdict, note)


def quota_rows(client: Client, needs: Needs) -> list[Row]:
    rows = []
    for region, reserved in sorted(needs.lambda_reserved.items()):
        if reserved:
            rows.append(
                _compare(
                    f"Lambda concurrent executions ({region})",
                    reserved + LAMBDA_UNRESERVED_MINIMUM,
                    partial(quota, client, region, LAMBDA_CONCURRENCY),
                    f"{reserved} reserved + {LAMBDA_UNRESERVED_MINIMUM} Lambda keeps unreserved; other functions' "
                    "reservations come off the same pool",
                )
            )
    for region, vcpu in sorted(needs.fargate_vcpu.items()):
        rows.append(
            _compare(
                f"Fargate on-demand vCPU ({region})",
                vcpu,
                partial(quota, client, region, FARGATE_ON_DEMAND_VCPU),
                "max tasks x task vCPU",
            )
        )
    return rows + _instance_rows(client, needs)


def _vcpus(client: Client, region: str, types: set[str]) -> dict[str, int]:
    answer = _ask(lambda: client("ec2", region).describe_instance_types(InstanceTypes=sorted(types)))
    return {t["InstanceType"]: int(t["VCpuInfo"]["DefaultVCpus"]) for t in answer["InstanceTypes"]}


def _instance_rows(client: Client, needs: Needs) -> list[Row]:
    rows = []
    for region in needs.regions:
        fleets = [f for f in needs.fleets if f.region == region]
        types = {t for f in fleets for t in f.types}
        if not fleets:
            continue
        nonstandard = sorted(t for t in types if not t.startswith(STANDARD_FAMILIES))
        try:
            vcpus = _vcpus(client, region, types)
            missing = sorted(types - vcpus.keys())
            if missing:
                raise NotAnswered(f"no vCPU count for {', '.join(missing)}")
        except NotAnswered as exc:
            for kind in ("on-demand", "spot"):
                rows.append(Row(f"EC2 {kind} standard vCPU ({region})", "?", NOT_ANSWERED, UNVERIFIED, str(exc)))
            continue
        # The largest type of each fleet: the need if every instance launches as it.
        on_demand = sum(f.on_demand * max(vcpus[t] for t in f.types) for f in fleets if f.types)
        spot = sum(f.spot * max(vcpus[t] for t in f.types) for f in fleets if f.types)
        note = "max size x vCPUs of the largest type" + (
            f"; {', '.join(nonstandard)} not standard: counted here, check its own quota" if nonstandard else ""
        )
        for kind, needed, code in (("on-demand", on_demand, EC2_ON_DEMAND_STANDARD), ("spot", spot, EC2_SPOT_STANDARD)):
            if needed:
                rows.append(
                    _compare(
                        f"EC2 {kind} standard vCPU ({region})",
                        needed,
                        partial(quota, client, region, code),
                        note,
                    )
                )
    return rows


def certificate_rows(client: Client, needs: Needs) -> list[Row]:
    rows = []
    for arn in needs.certificates:
        region = arn.split(":")[3]
        try:
            status = _ask(partial(client("acm", region).describe_certificate, CertificateArn=arn))
        except NotAnswered as exc:
            rows.append(Row(f"certificate {arn}", "ISSUED", NOT_ANSWERED, UNVERIFIED, str(exc)))
            continue
        state = str(status["Certificate"]["Status"])
        rows.append(Row(f"certificate {arn}", "ISSUED", state, OK if state == "ISSUED" else SHORT))
    return rows


def hosted_zone_row(client: Client, region: str, zone_id: str) -> list[Row]:
    if not zone_id:
        return []
    check = f"hosted zone {zone_id}"
    try:
        zone = _ask(lambda: client("route53", region).get_hosted_zone(Id=zone_id))["HostedZone"]
    except NotAnswered as exc:
        found = "NoSuchHostedZone" in str(exc)
        return [Row(check, "exists", "missing" if found else NOT_ANSWERED, SHORT if found else UNVERIFIED, str(exc))]
    return [Row(check, "exists", str(zone["Name"]), OK)]
