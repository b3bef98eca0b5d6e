"""The app: the registered stacks (:mod:`modules.registry`), and an all-or-nothing synth."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from cdktf import App
from constructs import Construct

from modules.config import Settings
from modules.policy.check import Finding, raise_on_violations
from modules.registry import STACKS as REGISTERED
from modules.registry import STATE_STACK, Registered, stack_class
from modules.stack.base import BaseStack

StackBuilder = Callable[[Construct, str, Settings], BaseStack]

__all__ = ["STACKS", "STATE_STACK", "build_app", "policy_findings", "publish", "synth"]


def _builder(entry: Registered) -> StackBuilder:
    cls = stack_class(entry)
    if not (isinstance(cls, type) and issubclass(cls, BaseStack)):
        raise TypeError(f"registry: stack {entry.name!r}: {entry.package}.stack.{entry.stack} is no BaseStack")
    return cls


def _wanted(builder: StackBuilder, settings: Settings) -> bool:
    return not (isinstance(builder, type) and issubclass(builder, BaseStack)) or builder.wanted(settings)


# Stack name -> builder, in deploy order (the registry's): `state` first, it holds everyone's state.
STACKS: dict[str, StackBuilder] = {entry.name: _builder(entry) for entry in REGISTERED}


def build_app(settings: Settings, outdir: Path, only: list[str] | None = None) -> App:
    """Every stack (or those named in ``only``) of the app, built but not synthesized.

    Every stack that keeps its state in the ``state`` stack's bucket depends on ``state``
    (when it is built too): ``cdktf deploy '*'`` applies ``state`` first and the others
    after it, ``cdktf destroy '*'`` destroys ``state`` last. The dependency is recorded in
    cdktf's ``manifest.json`` only; no stack's ``cdk.tf.json`` changes. So is a stack's
    dependency on the stacks it reads (``uses_stacks``: the `network` stack's VPC, the `alarms`
    stack's topics). A stack built on demand is left out when it is not wanted (``wanted``).
    """
    unknown = sorted(set(only or ()) - STACKS.keys())
    if unknown:
        raise KeyError(f"unknown stack(s) {', '.join(unknown)}; known: {', '.join(STACKS)}")
    app = App(outdir=str(outdir), stack_traces=False)
    built: dict[str, BaseStack] = {}
    for name, builder in STACKS.items():
        if (only is None or name in only) and _wanted(builder, settings):
            built[name] = builder(app, name, settings)
            built[name].finalize()
    state = built.get(STATE_STACK)
    for stack in built.values():
        if state is not None and stack is not state and stack.backend == "s3":
            stack.add_dependency(state)
        for used in sorted(stack.uses_stacks & built.keys()):
            stack.add_dependency(built[used])
    return app


def policy_findings(app: App) -> list[Finding]:
    """Every finding of the resilience policy (run by each stack's ``finalize()``), in stack order."""
    return [f for stack in app.node.children if isinstance(stack, BaseStack) for f in stack.resilience_policy.findings]


def synth(
    settings: Settings,
    outdir: Path,
    only: list[str] | None = None,
    on_waiver: Callable[[Finding], None] | None = None,
) -> list[Path]:
    """Synthesize into ``outdir`` all-or-nothing: a failure leaves ``outdir`` untouched.

    Fails with :class:`~modules.policy.PolicyError`, naming every stack, construct path
    and rule, when a resource breaks the resilience policy without a waiver; each waived
    finding goes to ``on_waiver``. Returns the ``cdk.tf.json`` path of each stack.
    """
    outdir = outdir.resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", dir=outdir.parent))
    try:
        app = build_app(settings, staging, only)
        app.synth()
        for waived in raise_on_violations(policy_findings(app)):
            if on_waiver is not None:
                on_waiver(waived)
        publish(staging, outdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(outdir.glob("stacks/*/cdk.tf.json"))


def publish(synthesized: Path, outdir: Path) -> None:
    """Put the finished synth ``synthesized`` (a directory beside ``outdir``, on the same file
    system) in the place of ``outdir``, keeping what Terraform wrote into each stack's directory."""
    old = outdir.with_name(f".{outdir.name}.old-{os.getpid()}")
    if outdir.exists():
        outdir.rename(old)
    synthesized.rename(outdir)
    if old.exists():
        _keep_terraform_files(old, outdir)
    shutil.rmtree(old, ignore_errors=True)


def _keep_terraform_files(old: Path, new: Path) -> None:
    """What Terraform wrote into a stack's directory (``.terraform/``, the lock file, a local
    state) survives a new synth of that stack, as with cdktf's own synth (which also drops
    the directories of stacks no longer synthesized). Every cdktf command synthesizes first:
    without this, against the emulator, each would delete the ``state`` stack's state."""
    for stack_dir in (old / "stacks").glob("*"):
        target = new / "stacks" / stack_dir.name
        if target.is_dir():
            for entry in stack_dir.iterdir():
                if not (target / entry.name).exists():
                    entry.rename(target / entry.name)
