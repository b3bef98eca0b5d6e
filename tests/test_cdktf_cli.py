"""The user's own cdktf commands, with the pinned CLI from package-lock.json and the app of
``cdktf.json``: `cdktf deploy '*'`, `diff` and `destroy '*'` on the emulator run the stacks in
dependency order. (That `cdktf synth` writes what the app writes in process is proven with
the stock-import identity synth, tests/test_lazy_provider.py: one full synth for both.)"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from modules.config import env_var
from tests.conftest import PROJECT_ROOT
from tests.test_emulator_round_trip import event_processing_smoke, state_bucket_is_hardened
from tools.deploy.round_trip import aws_client, emulator_settings, emulator_terraform
from tools.harness.moto_server import MotoServer

CDKTF = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"


# A subset that proves the order (`state`, then a stack on its bucket) and fits the test
# budget; `tooling.stacks` makes the app build only these, so `'*'` means them. The order of
# every stack (the shared network before the stacks in it, layers side by side) is proven by
# `make deploy-local` (tests/test_emulator_round_trip.py) and `make deploy`'s layers
# (tests/test_deploy_orchestrate.py); each stack's own apply by its round trip.
DEPLOYED = ("state", "event-processing")
CLI_SETTINGS = {
    "RAI_TOOLING_STACKS": ",".join(DEPLOYED),
    "RAI_EVENT_PROCESSING_DELIVERY": "direct",
}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def stack_lines(output: str) -> list[tuple[str, str]]:
    """(stack, text) of every line the CLI wrote for a stack, in output order: a block
    starts with the stack's name, its further lines are indented."""
    lines: list[tuple[str, str]] = []
    current = None
    for line in ANSI.sub("", output).splitlines():
        stack, _, text = line.partition("  ")
        if stack in DEPLOYED:
            current = stack
        elif current is not None and line[:1] == " ":
            text = line
        else:
            current = None
        if current is not None:
            lines.append((current, text.strip()))
    return lines


def first(lines: list[tuple[str, str]], stack: str, text: str) -> int:
    return next(i for i, (s, t) in enumerate(lines) if s == stack and text in t)


@pytest.mark.slow
@pytest.mark.emulator
def test_cdktf_deploy_all_applies_state_first_and_destroy_all_destroys_it_last(tmp_path: Path) -> None:
    """The user's own commands, the pinned CLI, on a moto server with `make deploy-local`'s
    settings: `deploy state` (the bootstrap: cdktf inits every stack before it deploys any,
    so the bucket must exist first), `deploy '*'` (state applied before the others start;
    the deployed state bucket and event-processing's direct delivery checked), `diff` (no
    changes), `destroy '*'` (state destroyed after the others)."""
    if not CDKTF.exists():
        pytest.fail("node_modules/.bin/cdktf missing: run `make setup`")
    local_state_before = set(PROJECT_ROOT.glob("terraform.*.tfstate*"))
    out = tmp_path / "cdktf.out"
    settings_file = tmp_path / "settings.toml"  # none of the developer's settings.toml
    settings_file.write_text("")
    with MotoServer(tmp_path / "moto.log") as moto:
        emu = emulator_settings(moto.endpoint, environ=CLI_SETTINGS)
        env = {k: v for k, v in emulator_terraform(emu).env.items() if not k.startswith("RAI_")}
        env.update(CLI_SETTINGS)
        env[env_var(None, "emulator_endpoint")] = emu.emulator_endpoint
        env["RAI_SETTINGS_FILE"] = str(settings_file)
        # The provider mirror and plugin cache come from TF_CLI_CONFIG_FILE, not cdktf's own cache.
        env |= {
            "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "true",
            "CHECKPOINT_DISABLE": "1",
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        }
        seconds: dict[str, float] = {}

        def cdktf(name: str, *args: str) -> list[tuple[str, str]]:
            t = time.monotonic()
            proc = subprocess.run(
                ["npx", "--no-install", "cdktf", *args, "--output", str(out)],
                cwd=PROJECT_ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=1200,
            )
            seconds[name] = time.monotonic() - t
            (tmp_path / f"cdktf {name}.log").write_text(ANSI.sub("", proc.stdout + proc.stderr))
            assert proc.returncode == 0, ANSI.sub("", proc.stdout[-6000:] + proc.stderr[-3000:])
            return stack_lines(proc.stdout)

        s3 = aws_client("s3", emu)
        try:
            cdktf("deploy state", "deploy", "state", "--auto-approve", "--skip-provider-lock")
            assert emu.state.bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
            outputs = tmp_path / "outputs.json"
            # `deploy state` synthesized every stack of the app; another synth would write the same.
            deploy = cdktf(
                "deploy '*'",
                "deploy",
                "*",
                "--auto-approve",
                "--skip-provider-lock",
                "--skip-synth",
                "--outputs-file",
                str(outputs),
            )
            state_done = first(deploy, "state", "Apply complete!")  # of nothing: applied by the bootstrap
            for stack in DEPLOYED[1:]:
                assert first(deploy, stack, "Creating...") > state_done, f"{stack} started before state was done"
                assert first(deploy, stack, "Apply complete!") > state_done
                key = f"{emu.state.key_prefix}/{emu.environment}/{stack}.tfstate"
                assert s3.get_object(Bucket=emu.state.bucket, Key=key)["ContentLength"] > 0, "state in the bucket"
            assert json.loads(outputs.read_text())["state"]["state_bucket_name"] == emu.state.bucket
            # What the CLI deployed works: the hardened state bucket, and event-processing's
            # direct delivery (S3 -> the function's live alias) on real objects.
            state_bucket_is_hardened(emu)
            event_processing_smoke(emu)
            diff = cdktf("diff", "diff", "event-processing", "--skip-synth")
            assert any(s == "event-processing" and "No changes." in t for s, t in diff), diff[-20:]
        finally:
            destroy = cdktf("destroy '*'", "destroy", "*", "--auto-approve", "--skip-synth")
            print(", ".join(f"{name} {s:.1f}s" for name, s in seconds.items()))
        first(destroy, "state", "Destroy complete!")
        for stack in DEPLOYED[1:]:
            assert first(destroy, stack, "Destroy complete!") < first(destroy, "state", "Destroying..."), stack
        assert not s3.list_buckets()["Buckets"], "destroy '*' removed every bucket, state's last"
    assert (out / "stacks" / "state" / "terraform.state.tfstate").is_file(), "state's local state stays in cdktf.out"
    assert set(PROJECT_ROOT.glob("terraform.*.tfstate*")) == local_state_before, "nothing left in the project root"
