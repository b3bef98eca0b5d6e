"""``make deploy``, ``make plan`` and ``make destroy`` of one environment (``ENV=<name>``).

    python -m tools.deploy.orchestrate deploy  [--auto-approve] [stack ...]
    python -m tools.deploy.orchestrate destroy [--auto-approve] [--with-state] [stack ...]
    python -m tools.deploy.orchestrate plan    [stack ...]

Every run loads the settings (``RAI_ENV``'s environment file, ``RAI_*``), synthesizes the
environment's stacks into a directory beside its synth output, and checks before it touches
anything. A refusal leaves nothing behind, not even the synth:

* destroy: first, on the synth alone, a protected environment (``settings.is_protected``) is
  refused, naming every resource with ``prevent_destroy``; so is an unprotected one whose targets
  still carry it (Terraform would stop half-way); ``state`` is kept unless ``--with-state``;
* deploy: the programs the chosen stacks' ``local-exec`` steps run (Docker, the AWS CLI);
* deploy and destroy: the cdktf CLI, Node, Terraform, AWS credentials and the pinned account
  (:mod:`tools.deploy.prechecks`);
* plan: Terraform, credentials and the account, then :mod:`tools.deploy.plan_review`.

Then the synth replaces the environment's output (``cdktf.out``, ``cdktf.out.<environment>``) and
the pinned cdktf CLI runs each stack in dependency order (:func:`tools.deploy.order.waves`):
``state`` first, then the rest; a destroy backwards. With ``--auto-approve`` the stacks of a
layer run side by side, as ``cdktf deploy '*'`` runs them; without, one at a time, each asking.
The first failure stops the run after its layer, naming what ran and what did not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from modules.config import Settings, SettingsError, load_settings
from modules.config.environments import synth_outdir
from modules.core.paths import PROJECT_ROOT
from modules.registry import STATE_STACK
from tools.deploy import prechecks
from tools.deploy.order import Refused, chosen_stacks, dependencies, destroy_targets, protected_resources, stack_docs
from tools.deploy.order import waves as layers

Step = Callable[[str], None]  # runs one stack; raises on failure
DOCS = "docs/environments.md#tearing-down-a-protected-environment"


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    not_started: list[str] = field(default_factory=list)


def run_layers(order: Sequence[Sequence[str]], step: Step, side_by_side: bool) -> Outcome:
    """``step`` on each stack, layer by layer; a layer with a failure is the last one run."""
    outcome = Outcome()
    for i, layer in enumerate(order):
        if outcome.failed:
            outcome.not_started += [name for rest in order[i:] for name in rest]
            break
        with ThreadPoolExecutor(max_workers=len(layer) if side_by_side else 1) as pool:
            futures = {name: pool.submit(step, name) for name in layer}
        for name, future in futures.items():
            error = future.exception()
            if error is None:
                outcome.done.append(name)
            else:
                outcome.failed[name] = str(error) or type(error).__name__
    return outcome


class CdktfCli:
    """The pinned cdktf CLI on the environment's synth output, one stack per call."""

    def __init__(self, settings: Settings, outdir: Path, auto_approve: bool) -> None:
        from tools.deploy.round_trip import emulator_terraform
        from tools.deploy.terraform import Terraform

        tf = emulator_terraform(settings) if settings.emulated else Terraform(settings)
        # The provider mirror and plugin cache come from TF_CLI_CONFIG_FILE, not cdktf's own cache.
        self.env = {**tf.env, "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "true", "CHECKPOINT_DISABLE": "1"}
        self.outdir, self.auto_approve = outdir, auto_approve

    def command(self, action: str, stack: str) -> list[str]:
        args = [str(prechecks.CDKTF_CLI), action, stack, "--skip-synth", "--ignore-missing-stack-dependencies"]
        args += ["--skip-provider-lock", "--output", str(self.outdir)]
        if action == "deploy":
            args += ["--outputs-file", str(self.outdir / "stacks" / stack / "outputs.json")]
        return args + (["--auto-approve"] if self.auto_approve else [])

    def step(self, action: str) -> Step:
        def run(stack: str) -> None:
            proc = subprocess.run(self.command(action, stack), cwd=PROJECT_ROOT, env=self.env, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"cdktf {action} {stack} exited {proc.returncode}")

        return run


@dataclass(frozen=True)
class Request:
    action: str  # deploy | destroy | plan
    stacks: tuple[str, ...] = ()
    with_state: bool = False
    auto_approve: bool = False


def staged_synth(settings: Settings, stacks: Sequence[str], outdir: Path) -> Path:
    """The stacks synthesized beside ``outdir`` (same file system, so it can take its place)."""
    from modules.app import synth

    staged = outdir.with_name(f".{outdir.name}.check-{os.getpid()}")
    synth(settings, staged, list(stacks))
    return staged


def protection_refusal(settings: Settings, protected: dict[str, list[str]]) -> list[str]:
    """Why a destroy is refused: the environment is protected, or its targets carry ``prevent_destroy``."""
    listed = [f"  {stack}: {', '.join(items)}" for stack, items in protected.items()]
    if settings.is_protected:
        why = "protected = true" if settings.protected else f"protected unset: true for {settings.environment}"
        return [
            f"environment {settings.environment} is protected ({why}). Protected (prevent_destroy):"
            + ("" if listed else " the environment as a whole"),
            *listed,
            f"To tear it down, two explicit steps ({DOCS}): set protected = false in its environment file and "
            f"`make deploy ENV={settings.environment}` (lifts deletion protection), then "
            f"`make destroy ENV={settings.environment}`",
        ]
    if protected:
        return [
            "these resources carry prevent_destroy, so Terraform would refuse their destroy half-way:",
            *listed,
        ]
    return []


def prepare(request: Request, settings: Settings, outdir: Path) -> tuple[Path, list[list[str]]]:
    """Synthesize (staged), choose and order the stacks, run every check: the staged synth and
    the layers to run, or :class:`Refused` with the staged synth removed."""
    named = list(request.stacks)
    chosen = chosen_stacks(settings.tooling.stacks, named)
    if request.action == "destroy" and STATE_STACK in named and not request.with_state:
        raise Refused([f"STACKS names {STATE_STACK}: add WITH_STATE=1 to destroy it (it holds every stack's state)"])
    staged = staged_synth(settings, chosen, outdir)
    try:
        deps = dependencies(staged)
        # A stack built on demand (``alarms``) is in the synth only when the settings want it.
        chosen = [name for name in chosen if name in deps]
        if request.action == "destroy":
            targets = destroy_targets(chosen, deps, with_state=request.with_state)
            # Refused on the synth alone: a protected environment's AWS account is not even asked.
            problems = protection_refusal(settings, protected_resources(stack_docs(staged, targets)))
            order = list(reversed(layers(deps, targets)))
        else:
            targets = chosen
            problems = prechecks.program_problems(prechecks.needed_programs(stack_docs(staged, targets)))
            order = layers(deps, targets)
        if problems:
            raise Refused(problems)
        problems = prechecks.tool_problems() + prechecks.account_problems(settings)
        if problems:
            raise Refused(problems)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged, order


@dataclass(frozen=True)
class Ready:
    """A run past every check: the environment's synth in place, the layers to run."""

    request: Request
    settings: Settings
    outdir: Path
    order: list[list[str]]


def ready(request: Request, outdir: Path | None = None, settings: Settings | None = None) -> Ready:
    """Check, then put the synth in place: for the environment the settings name (default: the
    process environment's), into ``outdir`` (default: the environment's own synth output)."""
    from modules.app import publish

    settings = settings or load_settings()
    outdir = outdir or synth_outdir(settings.environment)
    staged, order = prepare(request, settings, outdir)
    publish(staged, outdir)
    return Ready(request, settings, outdir, order)


def execute(run: Ready, log: Callable[[str], None] = print) -> Outcome:
    """The pinned cdktf CLI on each stack of ``run``, layer by layer."""
    action, env = run.request.action, run.settings.environment
    log(f"{action} {env} ({run.outdir.name}): " + " -> ".join(", ".join(layer) for layer in run.order))
    cli = CdktfCli(run.settings, run.outdir, run.request.auto_approve)
    outcome = run_layers(run.order, cli.step(action), side_by_side=run.request.auto_approve)
    for name, error in outcome.failed.items():
        log(f"FAILED {name}: {error}")
    if outcome.not_started:
        log(f"not started: {', '.join(outcome.not_started)}")
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy.orchestrate", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("deploy", "destroy", "plan"))
    parser.add_argument("stacks", nargs="*", help="a subset (make's STACKS=); default: every stack built")
    parser.add_argument("--with-state", action="store_true", help="destroy: the state stack too (WITH_STATE=1)")
    parser.add_argument("--auto-approve", action="store_true", help="no prompt; a layer's stacks side by side")
    args = parser.parse_args(argv)
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # the pinned Node (20) is EOL
    request = Request(args.action, tuple(args.stacks), args.with_state, args.auto_approve)
    try:
        if request.action == "plan":
            return _plan(request)
        outcome = execute(ready(request))
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except Refused as exc:
        print(refusal_text(request.action, exc.problems), file=sys.stderr)
        return 2
    return 1 if outcome.failed else 0


def refusal_text(action: str, problems: Sequence[str]) -> str:
    """``make <action>: refused`` and a line per problem (a line given indented stays under the one before)."""
    lines = [f"    {p.strip()}" if p.startswith(" ") else f"  - {p}" for p in problems]
    return "\n".join([f"make {action}: refused, nothing was deployed or destroyed:", *lines])


def _plan(request: Request) -> int:
    from tools.deploy import plan_review

    settings = load_settings()
    chosen_stacks(settings.tooling.stacks, list(request.stacks))
    problems = prechecks.tool_problems(cli=None) + prechecks.account_problems(settings)
    if problems:
        raise Refused(problems)
    return plan_review.main(list(request.stacks))


if __name__ == "__main__":
    sys.exit(main())
