"""FIS's own limits on an experiment template, checked at synth: AWS refuses a template past
them only when it is created, after everything before it in the plan has been applied.

The numbers are Service Quotas' for AWS FIS (service code ``fis``), none of them adjustable:
"Stop conditions per experiment template" (L-872EC72B) 5, "Actions per experiment template"
(L-0BFE6B67) 20, "Parallel actions per experiment" (L-EB051440) 10, "Resources per experiment
target" 5 (resource ARNs a target lists). FIS lists no quota on the number of targets as such.
Source: AWS FIS User Guide, "Quotas and limitations" (checked 2026-12).
"""

from __future__ import annotations

from modules.policy.document import Resource, StackDocument
from modules.policy.rule import Rule, blocks

STOP_CONDITIONS_MAX = 5
ACTIONS_MAX = 20
PARALLEL_ACTIONS_MAX = 10
RESOURCES_PER_TARGET_MAX = 5


class ExperimentWithinFisLimits(Rule):
    """A chaos experiment is one FIS accepts: at most 5 stop conditions (one composite alarm
    stands for several), 20 actions of which at most 10 start together, at most 5 resource ARNs
    per target."""

    id = "experiment-fis-limits"
    summary = "a FIS experiment template stays within FIS's quotas: stop conditions, actions, ARNs per target"
    types = ("aws_fis_experiment_template",)

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        stops = blocks(res.body.get("stop_condition"))
        actions = blocks(res.body.get("action"))
        problems = []
        if len(stops) > STOP_CONDITIONS_MAX:
            problems.append(
                f"{len(stops)} stop conditions: FIS takes at most {STOP_CONDITIONS_MAX} per template "
                "(combine alarms into a composite alarm)"
            )
        if len(actions) > ACTIONS_MAX:
            problems.append(f"{len(actions)} actions: FIS takes at most {ACTIONS_MAX} per template")
        parallel = [a for a in actions if not a.get("start_after")]
        if len(parallel) > PARALLEL_ACTIONS_MAX:
            problems.append(
                f"{len(parallel)} actions start together (no start_after): FIS runs at most "
                f"{PARALLEL_ACTIONS_MAX} at once"
            )
        for target in blocks(res.body.get("target")):
            name = target.get("name", "?")
            arns = target.get("resource_arns") or []
            if isinstance(arns, list) and len(arns) > RESOURCES_PER_TARGET_MAX:
                problems.append(
                    f"target {name}: {len(arns)} resource ARNs, FIS takes at most {RESOURCES_PER_TARGET_MAX} "
                    "(select by tags or parameters instead)"
                )
        return problems
