"""dev and prod side by side on one emulator account, through `make deploy` / `make destroy`'s
own code (tools/deploy/orchestrate.py, the pinned cdktf CLI): each environment's ``state``
deployed, dev's destroyed, prod's untouched; and a plan with credentials of another account
than ``account_id`` fails, naming the setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modules.config import load_settings
from tests.conftest import PROD_ALARMS, PROJECT_ROOT
from tools.deploy import orchestrate, prechecks
from tools.deploy.order import Refused
from tools.deploy.round_trip import aws_client, emulator_terraform
from tools.harness.moto_server import MotoServer

pytestmark = [pytest.mark.slow, pytest.mark.emulator]

MOTO_ACCOUNT = "123456789012"
OTHER_ACCOUNT = "111111111111"


def buckets(endpoint: str) -> set[str]:
    settings = load_settings(environ={"RAI_EMULATOR_ENDPOINT": endpoint}, settings_file=None)
    return {b["Name"] for b in aws_client("s3", settings).list_buckets().get("Buckets", [])}


def test_destroying_devs_state_leaves_prods_untouched(tmp_path: Path) -> None:
    """Both environments' ``state`` deployed side by side (the bucket's lifecycle rule alone waits
    ~55 s for the provider's read-back), prod's destroy refused, dev's destroyed."""
    from concurrent.futures import ThreadPoolExecutor

    if not prechecks.CDKTF_CLI.exists():
        pytest.fail("node_modules/.bin/cdktf missing: run `make setup`")
    local_state_before = set(PROJECT_ROOT.glob("terraform.*.tfstate*"))
    with MotoServer(tmp_path / "moto.log") as moto:

        def ready(action: str, env: str, with_state: bool = False) -> orchestrate.Ready:
            environ = {"RAI_EMULATOR_ENDPOINT": moto.endpoint, "RAI_TOOLING_STACKS": "state", "RAI_ENV": env}
            environ |= PROD_ALARMS if env == "prod" else {}
            outdir = tmp_path / ("cdktf.out" if env == "dev" else f"cdktf.out.{env}")
            request = orchestrate.Request(action, with_state=with_state, auto_approve=True)
            return orchestrate.ready(request, outdir, load_settings(environ=environ))

        def quiet(line: str) -> None:
            pass

        runs = [ready("deploy", "dev"), ready("deploy", "prod")]  # synthesized one after the other
        with ThreadPoolExecutor(2) as pool:
            deployed = list(pool.map(lambda run: orchestrate.execute(run, quiet), runs))
        assert [outcome.done for outcome in deployed] == [["state"], ["state"]]
        dev_bucket, prod_bucket = "resilient-ai-dev-tfstate-us-east-1", "resilient-ai-prod-tfstate-us-east-1"
        assert {dev_bucket, prod_bucket} <= buckets(moto.endpoint)
        prod_state = tmp_path / "cdktf.out.prod" / "stacks" / "state" / "terraform.state.tfstate"
        before = prod_state.read_text()
        assert json.loads(before)["resources"], "prod's state holds its bucket"

        with pytest.raises(Refused, match="environment prod is protected"):
            ready("destroy", "prod", with_state=True)
        assert orchestrate.execute(ready("destroy", "dev", with_state=True), quiet).done == ["state"]
        assert dev_bucket not in buckets(moto.endpoint) and prod_bucket in buckets(moto.endpoint)
        assert prod_state.read_text() == before, "prod's state is untouched"
    assert set(PROJECT_ROOT.glob("terraform.*.tfstate*")) == local_state_before, "nothing in the project root"


def test_a_plan_against_another_account_fails_naming_account_id(tmp_path: Path) -> None:
    from modules.app import synth

    with MotoServer(tmp_path / "moto.log") as moto:
        environ = {"RAI_EMULATOR_ENDPOINT": moto.endpoint, "RAI_ACCOUNT_ID": OTHER_ACCOUNT}
        settings = load_settings(environ=environ, settings_file=None)
        synth(settings, tmp_path / "cdktf.out", ["state"])
        tf = emulator_terraform(settings)
        stack_dir = tmp_path / "cdktf.out" / "stacks" / "state"
        tf.run(stack_dir, "init", "-input=false")
        plan = tf.run(stack_dir, "plan", "-input=false", check=False)
        assert plan.returncode == 1, plan.stdout[-2000:]
        error = " ".join((plan.stderr + plan.stdout).split())  # Terraform wraps long lines
        assert "The setting account_id pins environment dev to AWS account 111111111111" in error, error[-2000:]
        assert f"credentials are of account {MOTO_ACCOUNT}" in error
        assert not (stack_dir / "terraform.state.tfstate").exists(), "nothing applied"
