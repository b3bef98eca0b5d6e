"""The stack base: provider, tags, S3 backend with lockfile, emulator pointing only when set."""

from __future__ import annotations

import json

from modules.core.paths import PROJECT_ROOT
from modules.registry import STACKS as REGISTERED
from tests.conftest import EMULATOR_URL, PROD_ALARMS, StackDoc, settings_from

REMOTE_STACKS = [entry.name for entry in REGISTERED if entry.name != "state" and not entry.on_demand]


def aws_provider(doc: StackDoc) -> dict[str, object]:
    providers = doc["provider"]["aws"]
    assert len(providers) == 1
    return providers[0]  # type: ignore[no-any-return]


def test_every_stack_declares_hashicorp_aws_at_the_pinned_version(stacks: dict[str, StackDoc]) -> None:
    """A bare `aws` source breaks registry mirrors and OpenTofu; the version is the bindings' own."""
    for name, doc in stacks.items():
        assert doc["terraform"]["required_providers"]["aws"] == {"source": "hashicorp/aws", "version": "5.100.0"}, name
        assert doc["terraform"]["required_version"] == ">= 1.10.0", f"{name}: use_lockfile needs Terraform >= 1.10"


def test_every_stack_tags_everything_with_project_environment_stack_and_tool(stacks: dict[str, StackDoc]) -> None:
    for name, doc in stacks.items():
        provider = aws_provider(doc)
        assert provider["region"] == "us-east-1"
        assert provider["default_tags"] == [
            {"tags": {"project": "resilient-ai", "environment": "dev", "stack": name, "managed-by": "cdktf"}}
        ]


def test_real_aws_synth_never_points_at_an_emulator(stacks: dict[str, StackDoc]) -> None:
    for name, doc in stacks.items():
        provider = aws_provider(doc)
        for key in ("endpoints", "s3_use_path_style", "skip_credentials_validation", "max_retries"):
            assert key not in provider, f"{name}: {key} set without an emulator"
        backend = doc["terraform"]["backend"]
        assert all("endpoints" not in b for b in backend.values()), name


def test_the_state_bootstrap_keeps_local_state_in_the_project_root(stacks: dict[str, StackDoc]) -> None:
    """Not in cdktf.out: that directory is replaced on every synth."""
    assert stacks["state"]["terraform"]["backend"] == {"local": {"path": str(PROJECT_ROOT / "terraform.state.tfstate")}}


def _probe_stack_doc(env: dict[str, str]) -> StackDoc:
    """A bare BaseStack with the S3 backend (until every architecture has one)."""
    import json

    import cdktf

    from modules.stack.base import BaseStack

    app = cdktf.Testing.app()
    stack = BaseStack(app, "probe", settings=settings_from(env))
    stack.finalize()
    return json.loads(cdktf.Testing.synth(stack))  # type: ignore[no-any-return]


def test_s3_backend_key_encryption_and_native_lockfile() -> None:
    backend = _probe_stack_doc({"RAI_ENVIRONMENT": "staging"})["terraform"]["backend"]["s3"]
    assert backend == {
        "bucket": "resilient-ai-staging-tfstate-us-east-1",
        "key": "resilient-ai/staging/probe.tfstate",
        "region": "us-east-1",
        "encrypt": True,
        "use_lockfile": True,  # S3-native locking: a second concurrent run is refused
    }


def test_extra_tags_join_the_default_tags() -> None:
    tags = _probe_stack_doc({"RAI_TAGS": "team=ml,cost-center=42"})["provider"]["aws"][0]["default_tags"][0]["tags"]
    assert tags == {
        "team": "ml",
        "cost-center": "42",
        "project": "resilient-ai",
        "environment": "dev",
        "stack": "probe",
        "managed-by": "cdktf",
    }


def test_emulator_endpoint_points_provider_and_backend_at_it() -> None:
    doc = _probe_stack_doc({"RAI_EMULATOR_ENDPOINT": EMULATOR_URL})
    provider = doc["provider"]["aws"][0]
    endpoints = provider["endpoints"][0]
    assert set(endpoints.values()) == {EMULATOR_URL}
    assert {"s3", "sts", "iam", "kms", "lambda", "ec2", "elbv2", "kinesis"} <= endpoints.keys()
    assert provider["s3_use_path_style"] is True
    assert provider["skip_credentials_validation"] is True
    assert provider["skip_requesting_account_id"] is True
    backend = doc["terraform"]["backend"]["s3"]
    assert backend["endpoints"]["s3"] == EMULATOR_URL
    assert backend["use_path_style"] is True and backend["use_lockfile"] is True


def test_finalize_judges_the_real_form_then_applies_the_emulator_adjustments() -> None:
    """The policy must see what AWS would get, and the emulator synth what moto gets: in a
    protected environment the key is, so a policy run after the adjustments would flag it."""
    import cdktf
    from cdktf_cdktf_provider_aws.kms_key import KmsKey

    from modules.stack.base import BaseStack

    app = cdktf.Testing.app()
    stack = BaseStack(
        app,
        "probe",
        settings=settings_from({"RAI_EMULATOR_ENDPOINT": EMULATOR_URL, "RAI_ENVIRONMENT": "prod", **PROD_ALARMS}),
    )
    key = KmsKey(stack, "key", enable_key_rotation=True, deletion_window_in_days=30)
    stack.protect_stores(key)
    stack.finalize()
    judged = {f.rule for f in stack.resilience_policy.findings}
    assert judged == set(), judged
    written = json.loads(cdktf.Testing.synth(stack))["resource"]["aws_kms_key"]["key"]
    assert written["deletion_window_in_days"] == 7 and written["lifecycle"]["prevent_destroy"] is False


def test_every_stack_but_the_bootstrap_keeps_state_in_s3(stacks: dict[str, StackDoc]) -> None:
    for name in REMOTE_STACKS:
        assert "s3" in stacks[name]["terraform"]["backend"], name
