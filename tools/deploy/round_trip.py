"""Deploy synthesized stacks to the local AWS emulator and prove they converge.

For each stack: ``terraform init`` (the S3 backend on the emulator, lockfile on),
``apply``, ``plan -detailed-exitcode`` (must report no changes), ``destroy``.

``python -m tools.deploy.round_trip [stack ...]`` (``make deploy-local``) starts a
moto server, synthesizes the app against it and round-trips every stack in deploy
order: ``state`` is applied first and its bucket holds the others' state; it is
destroyed last. Without ``state`` in the list, the harness creates the state bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from modules.config import Settings, SettingsError, env_var, load_settings
from modules.core import emulator
from tools.deploy.terraform import Terraform, TerraformError
from tools.harness.moto_server import MotoServer


class DriftError(AssertionError):
    """The plan after apply is not empty: the emulator (or the stack) does not converge."""


@dataclass
class RoundTrip:
    stack: str
    seconds: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        return f"{self.stack}: {phases} (total {sum(self.seconds.values()):.1f}s)"


def emulator_settings(endpoint: str, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings (the user's, or the defaults plus ``environ``) pointed at ``endpoint``."""
    if environ is None:
        return load_settings(environ={**os.environ, env_var(None, "emulator_endpoint"): endpoint})
    return load_settings(environ={**environ, env_var(None, "emulator_endpoint"): endpoint}, settings_file=None)


def aws_client(service: str, settings: Settings, config: BotoConfig | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=settings.emulator_endpoint,
        region_name=settings.region,
        aws_access_key_id=emulator.CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=emulator.CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


def ensure_state_bucket(settings: Settings) -> None:
    """The state bucket in the emulator, versioned, as the ``state`` stack would make it."""
    s3 = aws_client("s3", settings)
    if settings.state.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        kwargs: dict[str, Any] = {"Bucket": settings.state.bucket}
        if settings.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
        s3.create_bucket(**kwargs)
    s3.put_bucket_versioning(Bucket=settings.state.bucket, VersioningConfiguration={"Status": "Enabled"})


def uses_s3_backend(stack_dir: Path) -> bool:
    doc = json.loads((stack_dir / "cdk.tf.json").read_text())
    return "s3" in doc.get("terraform", {}).get("backend", {})


def emulator_terraform(settings: Settings) -> Terraform:
    return Terraform(settings, extra_env={**emulator.CREDENTIALS, "AWS_REGION": settings.region})


def apply(tf: Terraform, stack_dir: Path, result: RoundTrip) -> None:
    t = time.monotonic()
    tf.run(stack_dir, "init", "-input=false")
    result.seconds["init"] = time.monotonic() - t
    t = time.monotonic()
    tf.run(stack_dir, "apply", "-auto-approve", "-input=false")
    result.seconds["apply"] = time.monotonic() - t


def check_no_drift(tf: Terraform, stack_dir: Path, result: RoundTrip) -> None:
    t = time.monotonic()
    plan = tf.run(stack_dir, "plan", "-detailed-exitcode", "-input=false", check=False)
    result.seconds["plan"] = time.monotonic() - t
    if plan.returncode == 2:
        raise DriftError(f"[{stack_dir.name}] plan after apply is not empty:\n{plan.stdout[-6000:]}")
    if plan.returncode != 0:
        raise TerraformError(stack_dir.name, ["plan", "-detailed-exitcode"], plan)


def destroy(tf: Terraform, stack_dir: Path, result: RoundTrip) -> None:
    t = time.monotonic()
    tf.run(stack_dir, "destroy", "-auto-approve", "-input=false")
    result.seconds["destroy"] = time.monotonic() - t


def round_trip(
    tf: Terraform,
    settings: Settings,
    stack_dir: Path,
    after_apply: Callable[[], None] | None = None,
) -> RoundTrip:
    """init, apply, (``after_apply``), plan with no changes, destroy: destroy runs even
    when a later step failed, so the emulator is left clean."""
    if not settings.emulated:
        raise ValueError("round_trip runs against the emulator only: settings.emulator_endpoint is empty")
    if uses_s3_backend(stack_dir):
        ensure_state_bucket(settings)
    result = RoundTrip(stack_dir.name)
    apply(tf, stack_dir, result)
    try:
        if after_apply is not None:
            after_apply()
        check_no_drift(tf, stack_dir, result)
    finally:
        destroy(tf, stack_dir, result)
    return result


Check = Callable[[Settings], None]


def deploy_local(
    stacks: Sequence[str] | None,
    log: Callable[[str], None] = print,
    *,
    environ: Mapping[str, str] | None = None,
    checks: Mapping[str, Check] | None = None,
    workdir: Path | None = None,
) -> list[RoundTrip]:
    """Round-trip ``stacks`` (default: all) on a fresh moto server, in deploy order.

    ``environ``: settings variables instead of the user's; ``checks``: per stack, run on
    the deployed stack after its apply (``state``'s after every other stack's destroy);
    ``workdir``: where the synth output and the moto log stay (default: a temporary one)."""
    with contextlib.ExitStack() as stack:
        tmp = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="deploy-local-")))
        return _deploy_local(stacks, log, environ, checks or {}, tmp)


def _deploy_local(
    stacks: Sequence[str] | None,
    log: Callable[[str], None],
    environ: Mapping[str, str] | None,
    checks: Mapping[str, Check],
    tmp: Path,
) -> list[RoundTrip]:
    from modules.app import STACKS, synth

    wanted = list(STACKS) if not stacks else [s for s in STACKS if s in stacks]
    with MotoServer(Path(tmp) / "moto.log") as moto:
        settings = emulator_settings(moto.endpoint, environ)
        log(f"moto server: {moto.endpoint}")
        t = time.monotonic()
        synth(settings, Path(tmp) / "cdktf.out", wanted)
        log(f"synthesized {', '.join(wanted)} for the emulator in {time.monotonic() - t:.1f}s")
        tf = emulator_terraform(settings)
        dirs = {name: Path(tmp) / "cdktf.out" / "stacks" / name for name in wanted}

        def checked(name: str) -> Callable[[], None] | None:
            check = checks.get(name)
            return None if check is None else lambda: check(settings)

        results: list[RoundTrip] = []
        bootstrap = "state" in dirs
        state_result = RoundTrip("state")
        if bootstrap:  # the real order: state first, its bucket holds everyone else's state
            apply(tf, dirs["state"], state_result)
            log(f"state: applied in {state_result.seconds['apply']:.1f}s")
        try:
            for name, stack_dir in dirs.items():
                if name != "state":
                    results.append(round_trip(tf, settings, stack_dir, checked(name)))
                    log(str(results[-1]))
            if bootstrap:
                if (check := checked("state")) is not None:
                    check()
                check_no_drift(tf, dirs["state"], state_result)
        finally:
            if bootstrap:
                destroy(tf, dirs["state"], state_result)
        if bootstrap:
            results.insert(0, state_result)
            log(str(state_result))
        return results


def main(argv: Sequence[str]) -> int:
    try:
        load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    t = time.monotonic()
    try:
        deploy_local(argv[1:] or None)
    except (TerraformError, DriftError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"deploy-local: every stack applied, converged and destroyed in {time.monotonic() - t:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
