"""`make preflight`: what the synth needs at its maximum sizes, and the table of checks against
an account (here the emulator: what it answers is checked, what it does not is unverified)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from modules.policy.document import StackDocument
from tests.conftest import StackDoc
from tools.preflight.__main__ import EXIT_SHORT, EXIT_UNVERIFIED, exit_code, table
from tools.preflight.checks import NOT_ANSWERED, OK, SHORT, UNVERIFIED, Row, certificate_rows, hosted_zone_row
from tools.preflight.needs import Needs, needs_of

MOTO_ACCOUNT = "123456789012"  # the account moto answers as


def test_the_default_synth_needs_at_its_maximum_sizes(stacks: dict[str, StackDoc]) -> None:
    needs = needs_of([StackDocument(name, doc) for name, doc in stacks.items()], "us-east-1")
    assert needs.lambda_reserved == {"us-east-1": 11}  # event-processing 10, the canary controller 1
    assert needs.fargate_vcpu == {"us-east-1": 5.0}  # 10 tasks x 512 CPU units
    groups = {f.name.split("/")[0] + ":" + str(f.on_demand) + "+" + str(f.spot) for f in needs.fleets}
    # ha-failover and each target group: max 4, one on-demand; the stream fleet: 3 of which 0 on-demand
    assert groups == {"ha-failover:1+3", "target-groups:1+3", "stream-analytics:0+3"}, groups
    assert all(f.types and f.region == "us-east-1" for f in needs.fleets)
    assert needs.certificates == []


def test_exit_codes_never_let_an_unverified_check_pass() -> None:
    ok, short = Row("a", "1", "2", OK), Row("b", "2", "1", SHORT)
    unverified = Row("c", "1", NOT_ANSWERED, UNVERIFIED)
    assert exit_code([ok]) == 0
    assert exit_code([ok, unverified]) == EXIT_UNVERIFIED
    assert exit_code([unverified, short]) == EXIT_SHORT
    lines = table([ok, short]).splitlines()
    assert lines[0].split() == ["check", "needed", "available", "verdict"] and lines[3].split() == [
        "b",
        "2",
        "1",
        SHORT,
    ]


@pytest.mark.slow
@pytest.mark.emulator
def test_on_the_emulator_preflight_prints_its_table(
    synth_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto answers the caller identity, ACM and Route 53; not Service Quotas (VPC's only): those
    rows are unverified and the run exits 3; another account_id is a shortfall (exit 1)."""
    from tools.deploy.clients import aws_client
    from tools.deploy.round_trip import emulator_settings
    from tools.harness.moto_server import MotoServer
    from tools.preflight.__main__ import main, run_checks

    with MotoServer(tmp_path / "moto.log") as moto:
        monkeypatch.setenv("RAI_EMULATOR_ENDPOINT", moto.endpoint)
        monkeypatch.setenv("RAI_ACCOUNT_ID", MOTO_ACCOUNT)
        assert main([str(synth_dir)]) == EXIT_UNVERIFIED
        rows = {cells[0]: cells[1:] for cells in _cells(capsys.readouterr().out)}
        assert rows["caller account"] == [MOTO_ACCOUNT, MOTO_ACCOUNT, OK]
        assert rows["Lambda concurrent executions (us-east-1)"] == ["21", NOT_ANSWERED, UNVERIFIED]
        assert rows["Fargate on-demand vCPU (us-east-1)"] == ["5", NOT_ANSWERED, UNVERIFIED]
        assert rows["EC2 on-demand standard vCPU (us-east-1)"] == ["6", NOT_ANSWERED, UNVERIFIED]
        assert rows["EC2 spot standard vCPU (us-east-1)"] == ["24", NOT_ANSWERED, UNVERIFIED]

        other = emulator_settings(moto.endpoint, environ={"RAI_ACCOUNT_ID": "210987654321"})
        checked = run_checks(other, synth_dir)
        assert checked[0] == Row(
            "caller account",
            "210987654321",
            MOTO_ACCOUNT,
            SHORT,
            "the credentials are of another account than the environment's account_id",
        )
        assert exit_code(checked) == EXIT_SHORT

        def client(service: str, region: str) -> Any:
            return aws_client(service, other.model_copy(update={"region": region}))

        zone = client("route53", "us-east-1").create_hosted_zone(Name="example.com", CallerReference="preflight")
        zone_id = zone["HostedZone"]["Id"].split("/")[-1]
        assert hosted_zone_row(client, "us-east-1", zone_id)[0].verdict == OK
        assert hosted_zone_row(client, "us-east-1", "Z0000000000000000000")[0].verdict == SHORT
        arn = client("acm", "us-east-1").request_certificate(DomainName="models.example.com")["CertificateArn"]
        (cert,) = certificate_rows(client, Needs(certificates=[arn]))
        assert (cert.needed, cert.available, cert.verdict) == ("ISSUED", "PENDING_VALIDATION", SHORT)


def _cells(out: str) -> list[list[str]]:
    """The table's rows (up to the notes), split into cells."""
    table_part = out.split("\n\n")[0].splitlines()
    return [re.split(r"\s{2,}", line.strip()) for line in table_part[2:]]
