"""Plan review: ``terraform plan`` for every stack, the plan JSON saved, and a summary
that puts replacements of stateful resources first, in red, with the attribute that
forces each one.

    python -m tools.deploy.plan_review [stack ...]            # AWS (credentials from the environment)
    python -m tools.deploy.plan_review --emulator [stack ...] # a moto server started for the run

The stacks are synthesized with the effective settings (``settings.toml`` or the environment's
file, ``RAI_*``) into the environment's synth output (``cdktf.out/``, or ``cdktf.out.<environment>/``:
:func:`modules.config.environments.synth_outdir`; for the emulator: ``.cache/plan-local/cdktf.out``, so the real synth
is never replaced by an emulator one); each stack's ``tfplan`` and ``plan.json`` (``terraform show -json``)
stay in its directory, where the scorecard can read them too. On the emulator every
stack's state starts empty, so its plan shows what a first deploy creates; the tests
apply a stack first and then change it. Exit status: 0, or 3 when a stateful resource
would be replaced (1 on a Terraform error).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modules.core.paths import PROJECT_ROOT
from modules.policy.rules import STATEFUL_TYPES
from tools.deploy.terraform import Terraform, TerraformError

RED, BOLD, RESET = "\033[31m", "\033[1m", "\033[0m"
REPLACED_STATEFUL_EXIT = 3


@dataclass(frozen=True)
class Replacement:
    address: str
    type: str
    forced_by: tuple[str, ...]  # attribute paths, e.g. "bucket", "rule[0].name"

    @property
    def stateful(self) -> bool:
        return self.type in STATEFUL_TYPES


@dataclass
class StackReview:
    stack: str
    adds: int = 0
    changes: int = 0
    destroys: int = 0
    replacements: list[Replacement] = field(default_factory=list)

    @property
    def stateful_replacements(self) -> list[Replacement]:
        return [r for r in self.replacements if r.stateful]


def _path(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def review(stack: str, plan: dict[str, Any]) -> StackReview:
    """Counts and replacements from a ``terraform show -json`` document."""
    result = StackReview(stack)
    for change in plan.get("resource_changes", []):
        if change.get("mode") != "managed":
            continue
        actions = change.get("change", {}).get("actions", [])
        if sorted(actions) == ["create", "delete"]:
            forced = tuple(_path(p) for p in change["change"].get("replace_paths", []))
            result.replacements.append(Replacement(change["address"], change["type"], forced))
        elif actions == ["create"]:
            result.adds += 1
        elif actions == ["update"]:
            result.changes += 1
        elif actions == ["delete"]:
            result.destroys += 1
    return result


def summary(result: StackReview, color: bool) -> str:
    """Terraform's own count line (a replacement is one add and one destroy), then each
    replacement: stateful ones first, in red when ``color``."""
    replaced = len(result.replacements)
    lines = [
        f"{result.stack}: {result.adds + replaced} to add, {result.changes} to change, "
        f"{result.destroys + replaced} to destroy ({replaced} replaced, "
        f"{len(result.stateful_replacements)} of them stateful)"
    ]
    for rep in sorted(result.replacements, key=lambda r: (not r.stateful, r.address)):
        why = ", ".join(rep.forced_by) or "replace requested or a dependency"
        if rep.stateful:
            text = f"  REPLACES STATEFUL {rep.address}: forced by {why} (its data is lost)"
            lines.append(f"{RED}{BOLD}{text}{RESET}" if color else text)
        else:
            lines.append(f"  replaces {rep.address}: forced by {why}")
    return "\n".join(lines)


def plan_stack(tf: Terraform, stack_dir: Path) -> StackReview:
    """init, plan -out, show -json into ``plan.json``; the review of that plan."""
    tf.run(stack_dir, "init", "-input=false")
    tf.run(stack_dir, "plan", "-input=false", "-out=tfplan")
    shown = tf.run(stack_dir, "show", "-json", "tfplan")
    (stack_dir / "plan.json").write_text(shown.stdout)
    return review(stack_dir.name, json.loads(shown.stdout))


def plan_all(
    tf: Terraform, stack_dirs: Sequence[Path], color: bool, apply_after_plan: Collection[str] = ()
) -> list[StackReview]:
    """Each stack's plan, in order; a stack in ``apply_after_plan`` is then applied from that
    plan (on the emulator only: the stacks after it read what it builds at plan time)."""
    results = []
    for stack_dir in stack_dirs:
        results.append(plan_stack(tf, stack_dir))
        print(summary(results[-1], color), flush=True)
        print(f"  plan JSON: {stack_dir / 'plan.json'}", flush=True)
        if stack_dir.name in apply_after_plan:
            tf.run(stack_dir, "apply", "-input=false", "tfplan")
            print("  applied on the emulator: the stacks after it read it at plan time", flush=True)
    return results


def _in_deploy_order(outdir: Path, stacks: list[str] | None) -> list[Path]:
    from modules.app import STACKS

    # A stack built on demand (`alarms`) is not there unless the settings ask for it.
    found = [outdir / "stacks" / name for name in STACKS if not stacks or name in stacks]
    return [stack_dir for stack_dir in found if stack_dir.is_dir()]


def _plan_aws(stacks: list[str] | None, color: bool) -> list[StackReview]:
    from modules.app import synth
    from modules.config import load_settings
    from modules.config.environments import synth_outdir

    settings = load_settings()
    outdir = synth_outdir(settings.environment)
    synth(settings, outdir, stacks)
    return plan_all(Terraform(settings), _in_deploy_order(outdir, stacks), color)


def _plan_emulator(stacks: list[str] | None, color: bool) -> list[StackReview]:
    from modules.app import STACKS, STATE_STACK, synth
    from tools.deploy.round_trip import emulator_settings, emulator_terraform, ensure_state_bucket, stack_dependencies
    from tools.harness.moto_server import MotoServer

    wanted = [s for s in STACKS if not stacks or s in stacks]
    with tempfile.TemporaryDirectory(prefix="plan-local-") as tmp, MotoServer(Path(tmp) / "moto.log") as moto:
        settings = emulator_settings(moto.endpoint)
        ensure_state_bucket(settings)
        outdir = PROJECT_ROOT / ".cache" / "plan-local" / "cdktf.out"
        synth(settings, outdir, wanted)
        wanted = [name for name in wanted if (outdir / "stacks" / name).is_dir()]
        # A stack the others read at plan time (the shared `network`) must exist for their plans:
        # applied on this throwaway emulator once reviewed. `state`'s bucket is made above.
        read = {d for deps in stack_dependencies(outdir, wanted).values() for d in deps} - {STATE_STACK}
        return plan_all(emulator_terraform(settings), _in_deploy_order(outdir, wanted), color, read)


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    emulated = "--emulator" in args
    stacks = [a for a in args if not a.startswith("--")] or None
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from modules.config import SettingsError

    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    try:
        results = _plan_emulator(stacks, color) if emulated else _plan_aws(stacks, color)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except TerraformError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    stateful = [r for res in results for r in res.stateful_replacements]
    if stateful:
        print(f"{len(stateful)} stateful resource(s) would be replaced: review before applying", file=sys.stderr)
        return REPLACED_STATEFUL_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
