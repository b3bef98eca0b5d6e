"""The faults a stack claims to survive (``faults.py`` in its folder), each with the
chaos experiment its synth ships for it, or the reason there is none."""

from __future__ import annotations

from modules.policy.document import Resource, StackDocument
from modules.policy.rule import blocks
from modules.stack.faults import FaultClaim, claims_of
from tools.docs.measures.row import path_cell


def experiments(doc: StackDocument) -> dict[str, Resource]:
    """The stack's FIS experiment templates by their ``experiment`` tag."""
    return {
        str((res.body.get("tags") or {}).get("experiment")): res for res in doc.of_type("aws_fis_experiment_template")
    }


def claim_row(doc: StackDocument, claim: FaultClaim, found: dict[str, Resource]) -> str:
    """A claimed fault, with the experiment that runs it and the alarms that stop it, or why none."""
    if not claim.experiment:
        return f"| {claim.fault} | none | {claim.no_experiment} |"
    template = found.get(claim.experiment)
    if template is None:
        return f"| {claim.fault} | **no template in this synth** (`chaos.enabled = false`?) | - |"
    actions = ", ".join(f"`{a.get('action_id')}`" for a in blocks(template.body.get("action")))
    targets = ", ".join(
        f"{t.get('selection_mode')} of `{t.get('resource_type')}`" for t in blocks(template.body.get("target"))
    )
    stops = [
        alarm
        for c in blocks(template.body.get("stop_condition"))
        for alarm in doc.referenced(c.get("value"), "aws_cloudwatch_metric_alarm")
    ]
    stopped = ", ".join(path_cell(doc, alarm) for alarm in stops) or "**no stop alarm**"
    return f"| {claim.fault} | {path_cell(doc, template)}: {actions} on {targets} | {stopped} |"


def fault_claims(doc: StackDocument) -> list[str]:
    """The faults the stack claims to survive (``faults.py`` in its folder), each
    with its chaos experiment (``make chaos RUN=<stack>/<key>``) or the reason there is none."""
    claims = claims_of(doc.name)
    if not claims:
        return []
    found = experiments(doc)
    return [
        "",
        "| fault it claims to survive | chaos experiment | stopped by |",
        "|---|---|---|",
        *(claim_row(doc, claim, found) for claim in claims),
    ]


def experiment_coverage(doc: StackDocument) -> str:
    """ "n of m": claimed faults with a template in this synth."""
    claims = claims_of(doc.name)
    if not claims:
        return "n/a"
    found = experiments(doc)
    return f"{sum(1 for c in claims if c.experiment in found)} of {len(claims)}"
