"""Deploy synthesized stacks to the local AWS emulator and prove they converge.

For each stack: ``terraform init`` (the S3 backend on the emulator, lockfile on),
``apply``, ``plan -detailed-exitcode`` (must report no changes), an object in each of its
buckets and an image in each of its repositories (:mod:`tools.harness.stores`), ``destroy``:
the stores go with their data as configured, nothing lifted in an unprotected environment.

``python -m tools.deploy.round_trip [stack ...]`` (``make deploy-local``) starts a
moto server, synthesizes the app against it and round-trips every stack in dependency
order, independent stacks side by side: ``state`` is applied first and its bucket holds
the others' state; it is destroyed last. Without ``state`` in the list, the harness
creates the state bucket.
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

from modules.config import Settings, SettingsError, env_var, load_settings
from tools.deploy.clients import aws_client as aws_client  # re-exported: the tests import it from here
from tools.deploy.terraform import Terraform, TerraformError
from tools.harness.emulator_credentials import CREDENTIALS
from tools.harness.moto_server import MotoServer
from tools.harness.stores import Stores, fill_stores, stores_in_state


class DriftError(AssertionError):
    """The plan after apply is not empty: the emulator (or the stack) does not converge."""


@dataclass
class RoundTrip:
    stack: str
    seconds: dict[str, float] = field(default_factory=dict)
    filled: Stores | None = None  # what held data when the destroy began

    def __str__(self) -> str:
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        stores = self.filled and (self.filled.buckets or self.filled.repositories)
        filled = f", destroyed with data in {self.filled}" if stores else ""
        return f"{self.stack}: {phases} (total {sum(self.seconds.values()):.1f}s){filled}"


def emulator_settings(endpoint: str, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings (the user's, or the defaults plus ``environ``) pointed at ``endpoint``."""
    if environ is None:
        return load_settings(environ={**os.environ, env_var(None, "emulator_endpoint"): endpoint})
    return load_settings(environ={**environ, env_var(None, "emulator_endpoint"): endpoint}, settings_file=None)


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
    return Terraform(settings, extra_env={**CREDENTIALS, "AWS_REGION": settings.region})


def apply(
    tf: Terraform,
    stack_dir: Path,
    result: RoundTrip,
    init_lock: contextlib.AbstractContextManager[Any] | None = None,
) -> None:
    """init then apply, each timed into ``result``; ``init_lock`` is held around init when
    stacks are applied side by side (Terraform's plugin cache is not safe for concurrent installs)."""
    t = time.monotonic()
    with init_lock or contextlib.nullcontext():
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


def fill_before_destroy(tf: Terraform, settings: Settings, stack_dir: Path, result: RoundTrip) -> None:
    """Data in every bucket and repository the stack deployed, so its destroy proves they go
    with their data (a destroy of empty stores proves nothing)."""
    state = json.loads(tf.run(stack_dir, "state", "pull").stdout or "{}")
    result.filled = stores_in_state(state)
    fill_stores(aws_client("s3", settings), aws_client("ecr", settings), result.filled)


def destroy(tf: Terraform, stack_dir: Path, result: RoundTrip, *, refresh: bool = True) -> None:
    """``refresh=False`` right after a plan with no changes: that plan has just read every
    resource back, so reading them all again before deleting them proves nothing."""
    t = time.monotonic()
    tf.run(stack_dir, "destroy", "-auto-approve", "-input=false", *([] if refresh else ["-refresh=false"]))
    result.seconds["destroy"] = time.monotonic() - t


def round_trip(
    tf: Terraform,
    settings: Settings,
    stack_dir: Path,
    after_apply: Callable[[], None] | None = None,
) -> RoundTrip:
    """init, apply, (``after_apply``), plan with no changes, data into every store, destroy:
    destroy runs even when a later step failed, so the emulator is left clean."""
    if not settings.emulated:
        raise ValueError("round_trip runs against the emulator only: settings.emulator_endpoint is empty")
    if uses_s3_backend(stack_dir):
        ensure_state_bucket(settings)
    result = RoundTrip(stack_dir.name)
    apply(tf, stack_dir, result)
    fresh = False
    try:
        if after_apply is not None:
            after_apply()
        check_no_drift(tf, stack_dir, result)
        fresh = True
        fill_before_destroy(tf, settings, stack_dir, result)
    finally:
        destroy(tf, stack_dir, result, refresh=not fresh)
    return result


Check = Callable[[Settings], None]


class DeployLocalError(AssertionError):
    """One or more stacks failed their round trip; each is named with its error."""

    def __init__(self, failures: Mapping[str, BaseException | str]) -> None:
        self.failures = dict(failures)
        lines = [f"{name}: {str(error).strip() or type(error).__name__}" for name, error in failures.items()]
        super().__init__(f"{len(lines)} stack(s) failed: {', '.join(failures)}\n" + "\n".join(lines))


def stack_dependencies(outdir: Path, names: Sequence[str]) -> dict[str, set[str]]:
    """Each of ``names`` -> the stacks among ``names`` it depends on, from cdktf's manifest
    (``build_app`` records them: every stack on the state bucket depends on ``state``)."""
    manifest = json.loads((outdir / "manifest.json").read_text())["stacks"]
    return {name: set(manifest[name].get("dependencies", [])) & set(names) for name in names}


def run_in_dependency_order(
    dependencies: Mapping[str, set[str]],
    up: Callable[[str], None],
    down: Callable[[str], None],
    workers: int,
) -> dict[str, BaseException | str]:
    """``up(name)`` for each stack once every stack it depends on is up, ``down(name)`` once
    every stack that depends on it is down, independent stacks side by side on ``workers``
    threads. A stack whose ``up`` failed goes down at once (``down`` sees a half-made stack);
    its dependents are not started. Returns the failures by stack (empty: all went well)."""
    import concurrent.futures as cf

    dependents = {name: {d for d, deps in dependencies.items() if name in deps} for name in dependencies}
    failures: dict[str, BaseException | str] = {}
    started: set[str] = set()
    went_up: set[str] = set()
    gone: set[str] = set()
    pending: dict[cf.Future[None], tuple[str, str]] = {}
    with cf.ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="stack") as pool:
        while True:
            for name, deps in dependencies.items():
                if name in started:
                    continue
                if deps & failures.keys():
                    started.add(name)
                    gone.add(name)
                    failures.setdefault(name, f"not started: {', '.join(sorted(deps & failures.keys()))} failed")
                elif deps <= went_up:
                    started.add(name)
                    pending[pool.submit(up, name)] = (name, "up")
            for name in went_up - gone:
                if dependents[name] <= gone and (name, "down") not in pending.values():
                    pending[pool.submit(down, name)] = (name, "down")
            if not pending:
                break
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                name, phase = pending.pop(future)
                error = future.exception()
                if phase == "up":
                    went_up.add(name)  # also when it failed half-way: it must come down
                    if error is not None:
                        failures[name] = error
                else:
                    gone.add(name)
                    if error is not None and name not in failures:
                        failures[name] = error
    return failures


def deploy_local(
    stacks: Sequence[str] | None,
    log: Callable[[str], None] = print,
    *,
    environ: Mapping[str, str] | None = None,
    checks: Mapping[str, Check] | None = None,
    workdir: Path | None = None,
    workers: int | None = None,
) -> list[RoundTrip]:
    """Round-trip ``stacks`` (default: all) on a fresh moto server.

    Each stack is applied once the stacks it depends on are applied (``state`` first: its
    bucket holds everyone else's state); then it runs its check, the plan that must show no
    changes, and its destroy, once the stacks that depend on it are destroyed. Independent
    stacks run side by side (``workers`` at once, default all). One line is logged per stack
    as it finishes; any failure fails the run with :class:`DeployLocalError` naming each
    failed stack, after every applied stack was destroyed.

    ``environ``: settings variables instead of the user's; ``checks``: per stack, run on
    the deployed stack after its apply (``state``'s after every other stack's destroy);
    ``workdir``: where the synth output and the moto log stay (default: a temporary one)."""
    with contextlib.ExitStack() as stack:
        tmp = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="deploy-local-")))
        return _deploy_local(stacks, log, environ, checks or {}, tmp, workers)


def _deploy_local(
    stacks: Sequence[str] | None,
    log: Callable[[str], None],
    environ: Mapping[str, str] | None,
    checks: Mapping[str, Check],
    tmp: Path,
    workers: int | None,
) -> list[RoundTrip]:
    import threading

    from modules.app import STACKS, synth

    wanted = list(STACKS) if not stacks else [s for s in STACKS if s in stacks]
    with MotoServer(Path(tmp) / "moto.log") as moto:
        settings = emulator_settings(moto.endpoint, environ)
        log(f"moto server: {moto.endpoint}")
        t = time.monotonic()
        outdir = Path(tmp) / "cdktf.out"
        synth(settings, outdir, wanted)
        # A stack built on demand (`alarms`) is not there unless the settings ask for it.
        wanted = [name for name in wanted if (outdir / "stacks" / name).is_dir()]
        log(f"synthesized {', '.join(wanted)} for the emulator in {time.monotonic() - t:.1f}s")
        tf = emulator_terraform(settings)
        dependencies = stack_dependencies(outdir, wanted)
        results = {name: RoundTrip(name) for name in wanted}
        # Terraform's plugin cache is not safe for concurrent installs: one init at a time.
        init_lock, log_lock = threading.Lock(), threading.Lock()
        if "state" not in wanted and any(uses_s3_backend(outdir / "stacks" / name) for name in wanted):
            ensure_state_bucket(settings)
        applied: set[str] = set()

        def up(name: str) -> None:
            apply(tf, outdir / "stacks" / name, results[name], init_lock)
            applied.add(name)
            with log_lock:
                log(f"{name}: applied in {results[name].seconds['apply']:.1f}s")

        def down(name: str) -> None:
            stack_dir = outdir / "stacks" / name
            if name not in applied:  # its apply failed: only clear what it made
                if (stack_dir / ".terraform").is_dir():
                    destroy(tf, stack_dir, results[name])
                return
            fresh = False
            try:
                if (check := checks.get(name)) is not None:
                    check(settings)
                check_no_drift(tf, stack_dir, results[name])
                fresh = True
                fill_before_destroy(tf, settings, stack_dir, results[name])
            finally:
                destroy(tf, stack_dir, results[name], refresh=not fresh)
                with log_lock:
                    log(str(results[name]))

        failures = run_in_dependency_order(dependencies, up, down, workers or len(wanted))
        if failures:
            raise DeployLocalError(failures)
        return [results[name] for name in wanted]


def main(argv: Sequence[str]) -> int:
    try:
        load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    t = time.monotonic()
    try:
        deploy_local(argv[1:] or None)
    except (TerraformError, DriftError, DeployLocalError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"deploy-local: every stack applied, converged and destroyed in {time.monotonic() - t:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
