"""dev and prod from one checkout: separate synth outputs that differ in every name, state key
and local state path; prod pinned to its account by a caller-identity postcondition in every
stack (the small stacks, ``state`` and ``network``, synthesized once per environment)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from modules.config import Settings, load_settings
from modules.config.environments import synth_outdir
from tests.conftest import PROD_ALARMS, load_stacks

SMALL = "state,network"
PROD_ACCOUNT = "222222222222"


def synth_env(root: Path, environ: dict[str, str]) -> tuple[Settings, dict[str, Any]]:
    from modules.app import synth

    settings = load_settings(environ={**environ, "RAI_TOOLING_STACKS": SMALL})
    # Where main.py would write, under the test's own folder instead of the project root.
    outdir = root / synth_outdir(settings.environment).name
    synth(settings, outdir, list(settings.tooling.stacks))
    return settings, {"outdir": outdir, "stacks": load_stacks(outdir)}


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Settings, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("checkout")
    return {
        # Both send their alarms to a team's topic (prod must name a destination), so both
        # build the same resources and differ only in their names.
        "dev": synth_env(root, {"RAI_ENV": "dev", **PROD_ALARMS}),
        "prod": synth_env(root, {"RAI_ENV": "prod", "RAI_ACCOUNT_ID": PROD_ACCOUNT, **PROD_ALARMS}),
    }


def names(doc: dict[str, Any]) -> set[str]:
    """Every resource name an AWS account sees (bucket, alias, name, name_prefix, tag Name)."""
    found: set[str] = set()
    for resources in doc.get("resource", {}).values():
        for body in resources.values():
            for key in ("bucket", "name", "name_prefix", "alias", "function_name"):
                if isinstance(body.get(key), str) and "${" not in body[key]:
                    found.add(body[key])
            if isinstance(body.get("tags"), dict) and isinstance(body["tags"].get("Name"), str):
                found.add(body["tags"]["Name"])
    return found


def test_dev_and_prod_synthesize_into_separate_outputs(side_by_side: dict[str, Any]) -> None:
    (_, dev), (_, prod) = side_by_side["dev"], side_by_side["prod"]
    assert dev["outdir"].name == "cdktf.out" and prod["outdir"].name == "cdktf.out.prod"
    assert sorted(dev["stacks"]) == sorted(prod["stacks"]) == ["network", "state"]


def test_they_differ_in_every_name_state_key_and_local_state_path(side_by_side: dict[str, Any]) -> None:
    (dev_settings, dev), (prod_settings, prod) = side_by_side["dev"], side_by_side["prod"]
    for stack in ("state", "network"):
        dev_names, prod_names = names(dev["stacks"][stack]), names(prod["stacks"][stack])
        assert dev_names and len(dev_names) == len(prod_names), stack
        assert not dev_names & prod_names, f"{stack}: names in both environments: {dev_names & prod_names}"
        assert all("-dev" in n for n in dev_names) and all("-prod" in n for n in prod_names), stack
        text = json.dumps(prod["stacks"][stack])
        assert not re.search(r"resilient-ai-dev|/dev/", text), f"{stack}: prod's JSON names dev"
    dev_backend = dev["stacks"]["network"]["terraform"]["backend"]["s3"]
    prod_backend = prod["stacks"]["network"]["terraform"]["backend"]["s3"]
    assert dev_backend["key"] == "resilient-ai/dev/network.tfstate"
    assert prod_backend["key"] == "resilient-ai/prod/network.tfstate"
    assert (dev_backend["bucket"], prod_backend["bucket"]) == (dev_settings.state.bucket, prod_settings.state.bucket)
    assert dev_backend["bucket"] != prod_backend["bucket"]
    dev_local = dev["stacks"]["state"]["terraform"]["backend"]["local"]["path"]
    prod_local = prod["stacks"]["state"]["terraform"]["backend"]["local"]["path"]
    assert Path(dev_local).name == "terraform.state.tfstate", "dev keeps the path it had"
    assert Path(prod_local).name == "terraform.prod.state.tfstate"


def test_account_id_pins_every_stack_with_a_postcondition_naming_the_setting(side_by_side: dict[str, Any]) -> None:
    (_, dev), (_, prod) = side_by_side["dev"], side_by_side["prod"]
    for stack, doc in prod["stacks"].items():
        pin = doc["data"]["aws_caller_identity"]["account_pin"]
        (check,) = pin["lifecycle"]["postcondition"]
        assert check["condition"] == f'${{self.account_id == "{PROD_ACCOUNT}"}}', stack
        message = check["error_message"]
        assert "account_id" in message and PROD_ACCOUNT in message and "${self.account_id}" in message, stack
    for stack, doc in dev["stacks"].items():
        assert "account_pin" not in doc.get("data", {}).get("aws_caller_identity", {}), f"{stack}: no pin, no change"
