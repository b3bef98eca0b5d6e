"""Offline `terraform validate` of every stack, through a provider mirror, never the user's config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modules.core.versions import AWS_PROVIDER_VERSION
from tests.conftest import settings_from
from tools.deploy.terraform import (
    PROVIDER,
    Terraform,
    cli_config_text,
    find_provider_mirror,
    platform_dir,
    stack_dirs,
    validate_all,
)


def test_generated_cli_config_adds_mirror_and_shared_cache(tmp_path: Path) -> None:
    text = cli_config_text("", tmp_path / "mirror", tmp_path / "cache")
    assert f'plugin_cache_dir = "{tmp_path / "cache"}"' in text
    assert f'path    = "{tmp_path / "mirror"}"' in text
    assert f'exclude = ["{PROVIDER}"]' in text, "everything else still comes from the registry"


def test_a_users_own_provider_installation_is_kept_as_is() -> None:
    user = 'provider_installation {\n  network_mirror { url = "https://mirror.example/" }\n}\n'
    text = cli_config_text(user, Path("/found/mirror"), Path("/cache"))
    assert text.startswith(user.rstrip())
    assert "/found/mirror" not in text and text.count("provider_installation") == 1


def test_without_a_mirror_the_registry_is_used() -> None:
    assert "provider_installation" not in cli_config_text("", None, Path("/cache"))


def test_configured_mirror_wins_over_search(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    (mirror / PROVIDER / AWS_PROVIDER_VERSION / platform_dir()).mkdir(parents=True)
    settings = settings_from({"RAI_TOOLING_PROVIDER_MIRROR": str(mirror)})
    assert find_provider_mirror(settings) == mirror


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant",
    ["synth_dir", "public_synth_dir", "per_stack_synth_dir", "existing_synth_dir"],
    ids=["default", "public", "network-per-stack", "network-existing"],
)
def test_every_stack_validates_offline(variant: str, request: pytest.FixtureRequest) -> None:
    """The default synth of every stack (network shared), the public variant of the stacks with a
    load balancer, and the network users in the other two network modes (data-source lookups and
    their postconditions are checked by `validate` too)."""
    synth_dir: Path = request.getfixturevalue(variant)
    tf = Terraform(settings_from())
    results = validate_all(tf, stack_dirs(synth_dir))
    assert set(results) == {d.name for d in stack_dirs(synth_dir)}
    errors = [str(d) for diags in results.values() for d in diags if d.severity == "error"]
    assert not errors, "\n".join(errors)


@pytest.mark.slow
def test_invalid_stacks_are_all_reported_with_address_and_message(synth_dir: Path, tmp_path: Path) -> None:
    broken = []
    for name, mutate in (("bad-a", "bogus_argument"), ("bad-b", "another_bogus")):
        stack = tmp_path / "stacks" / name
        stack.mkdir(parents=True)
        doc = json.loads((synth_dir / "stacks" / "state" / "cdk.tf.json").read_text())
        bucket = next(iter(doc["resource"]["aws_s3_bucket"].values()))
        bucket[mutate] = True
        (stack / "cdk.tf.json").write_text(json.dumps(doc, indent=2))
        broken.append(name)
    shutil.copytree(
        synth_dir / "stacks" / "state", tmp_path / "stacks" / "state", ignore=shutil.ignore_patterns(".terraform*")
    )
    results = validate_all(Terraform(settings_from()), stack_dirs(tmp_path))
    assert not [d for d in results["state"] if d.severity == "error"]
    for name, arg in zip(broken, ("bogus_argument", "another_bogus"), strict=True):
        (diag,) = [d for d in results[name] if d.severity == "error"]
        assert diag.stack == name and "Extraneous JSON object property" in diag.summary
        assert arg in diag.detail
        assert diag.address.startswith("aws_s3_bucket.bucket_") and "cdk.tf.json:" in diag.address
