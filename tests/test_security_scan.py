"""checkov over every synthesized stack: zero unwaived failures, every waiver reasoned and live."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tools.deploy.checkov_scan import Finding, Waiver, load_waivers, scan


def test_every_waiver_is_scoped_and_reasoned() -> None:
    waivers = load_waivers()
    declared = (PROJECT_ROOT / "pyproject.toml").read_text().count("\n[[tool.checkov-waivers]]\n")
    assert declared and len(waivers) == declared, f"{len(waivers)} waivers loaded of the {declared} in pyproject.toml"
    for w in waivers:
        assert w.stack and w.resource != "*", f"{w.check}: waiver must name a resource pattern"
        assert len(w.reason) > 40, f"{w.check}: give the reason, not a token"


def test_a_waiver_covers_only_its_check_stack_and_resource() -> None:
    waiver = Waiver("CKV_AWS_18", "state", "aws_s3_bucket.bucket_*", "reason")
    assert waiver.covers(Finding("CKV_AWS_18", "state", "aws_s3_bucket.bucket_ABC", "t"))
    assert not waiver.covers(Finding("CKV_AWS_18", "other", "aws_s3_bucket.bucket_ABC", "t"))
    assert not waiver.covers(Finding("CKV_AWS_18", "state", "aws_s3_bucket.data_ABC", "t"))
    assert not waiver.covers(Finding("CKV_AWS_21", "state", "aws_s3_bucket.bucket_ABC", "t"))


@pytest.mark.slow
def test_checkov_finds_no_unwaived_failure_and_no_stale_waiver(synth_dir: Path) -> None:
    result = scan(synth_dir, load_waivers())
    assert result.passed > 0, "checkov ran no checks: the scan is not looking at the stacks"
    assert not result.failures, "\n".join(map(str, result.failures))
    assert not result.stale_waivers, result.stale_waivers


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["per_stack_synth_dir", "existing_synth_dir"], ids=["per-stack", "existing"])
def test_the_network_modes_have_no_unwaived_failure(variant: str, request: pytest.FixtureRequest) -> None:
    """Each stack's own VPC (per_stack) and the user's VPC (existing) pass the same checks.
    Stale waivers are the default scan's to report: these synths hold a subset of the stacks."""
    result = scan(request.getfixturevalue(variant), load_waivers())
    assert result.passed > 0, "checkov ran no checks: the scan is not looking at the stacks"
    assert not result.failures, "\n".join(map(str, result.failures))


# Waived only because the default ALB is internal without a certificate: plain HTTP.
INTERNAL_HTTP_CHECKS = {"CKV_AWS_2", "CKV_AWS_103", "CKV2_AWS_20", "CKV_AWS_378"}


@pytest.mark.slow
def test_the_public_variant_has_no_unwaived_failure_and_no_plain_http(public_synth_dir: Path) -> None:
    """Public (TLS, WAF, JWT) passes too, and the internal-HTTP waivers match nothing there."""
    result = scan(public_synth_dir, load_waivers())
    assert result.passed > 0, "checkov ran no checks: the scan is not looking at the stacks"
    assert not result.failures, "\n".join(map(str, result.failures))
    http = [str(f) for f, _ in result.waived if f.check in INTERNAL_HTTP_CHECKS]
    assert not http, "public must not lean on the internal-HTTP waivers:\n" + "\n".join(http)


@pytest.mark.slow
def test_a_public_alb_without_the_http_redirect_has_no_port_80_and_needs_no_port_80_waiver(tmp_path: Path) -> None:
    """``http_redirect = false``: no listener and no ingress on port 80, so an http:// client
    fails before it sends its token in cleartext, and CKV_AWS_260 passes without its waiver."""
    from modules.app import synth
    from tests.conftest import PUBLIC_ENV, load_stacks, resources, settings_from

    outdir = tmp_path / "cdktf.out"
    synth(settings_from({**PUBLIC_ENV, "RAI_LOAD_BALANCER_HTTP_REDIRECT": "false"}), outdir, only=["model-serving"])
    doc = load_stacks(outdir)["model-serving"]
    assert [x["port"] for x in resources(doc, "aws_lb_listener")] == [443]
    open_ports = {r["from_port"] for r in resources(doc, "aws_vpc_security_group_ingress_rule") if "cidr_ipv4" in r}
    assert open_ports == {443}
    result = scan(outdir, load_waivers())
    assert not result.failures, "\n".join(map(str, result.failures))
    assert "CKV_AWS_260" not in {f.check for f, _ in result.waived}


@pytest.mark.slow
def test_checkov_catches_an_unencrypted_bucket(synth_dir: Path, tmp_path: Path) -> None:
    """The scan can fail: drop the state bucket's encryption and it must report it."""
    import json

    stack = tmp_path / "stacks" / "state"
    stack.mkdir(parents=True)
    doc = json.loads((synth_dir / "stacks" / "state" / "cdk.tf.json").read_text())
    del doc["resource"]["aws_s3_bucket_server_side_encryption_configuration"]
    (stack / "cdk.tf.json").write_text(json.dumps(doc))
    result = scan(tmp_path, load_waivers())
    assert "CKV_AWS_145" in {f.check for f in result.failures}
