"""Evaluating the rules on a stack, and waivers.

Why the JSON and not the construct tree: until synth most properties of a cdktf
resource are tokens (``${TfToken[...]}``), so a rule reading the Python objects cannot
tell which subnet a load balancer uses or whether a queue's redrive target exists. In
``stack.to_terraform()`` every token is a Terraform expression that names the resource
it refers to, so the rules follow references by name; and the same JSON is what
Terraform, checkov, the scorecard and the diagrams read.

Why not a cdktf aspect: an aspect is called for every construct of the stack, each call
a round trip from the jsii kernel to Python (about 500 for the app), to act on the stack
alone. :meth:`BaseStack.finalize` instead evaluates the policy once the stack is built and
applies the emulator adjustments (when the emulator endpoint is set) after it, so the rules
always see the real-AWS form of a stack: an emulator synth fails exactly when a real one
would, and an emulator-only ``count = 0`` or ``prevent_destroy = false`` never trips a rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cdktf import TerraformResource, TerraformStack

from modules.policy.document import StackDocument
from modules.policy.rule import Rule
from modules.policy.rules import RULES


@dataclass(frozen=True)
class Finding:
    """One rule broken by one resource; ``waiver`` is the reason when it is accepted."""

    stack: str
    path: str
    address: str
    rule: str
    problem: str
    waiver: str | None = None

    def __str__(self) -> str:
        line = f"{self.stack}: {self.path} ({self.address}) breaks {self.rule}: {self.problem}"
        return f"{line}\n    waived: {self.waiver}" if self.waiver else line


class PolicyError(Exception):
    """Every unwaived finding of every stack, one per line."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        lines = "\n".join(f"  - {f}" for f in findings)
        super().__init__(f"resilience policy: {len(findings)} violation(s):\n{lines}")


def evaluate(doc: StackDocument, rules: Iterable[Rule] = RULES) -> list[Finding]:
    """Every finding (waived or not) of ``rules`` on one stack."""
    findings = []
    rules = list(rules)
    for res in doc:
        waivers = res.waivers
        for rule in rules:
            if res.type in rule.types:
                for problem in rule.check(doc, res):
                    findings.append(Finding(doc.name, res.path, res.address, rule.id, problem, waivers.get(rule.id)))
    return findings


def waive(resource: TerraformResource, rule: str, reason: str) -> None:
    """Accept that ``resource`` breaks ``rule``, for ``reason`` (listed on every synth).

    The waiver is written into the resource's ``//`` comment block of the JSON, which
    Terraform ignores, so it travels with the synthesized stack.
    """
    if rule not in {r.id for r in RULES}:
        raise ValueError(f"unknown rule {rule!r}; known: {', '.join(r.id for r in RULES)}")
    if len(reason.strip()) < 20:
        raise ValueError(f"waiver of {rule} on {resource.node.path}: give a reason (20+ characters)")
    resource.add_override(f"//.waivers.{rule}", reason)


class ResiliencePolicy:
    """Evaluates :data:`~modules.policy.rules.RULES` on the stack's JSON and keeps the
    findings for the app to report (:meth:`BaseStack.finalize` calls :meth:`evaluate`)."""

    def __init__(self, stack: TerraformStack, rules: Iterable[Rule] = RULES) -> None:
        self.stack = stack
        self.rules = tuple(rules)
        self.findings: list[Finding] = []

    def evaluate(self) -> list[Finding]:
        doc: dict[str, Any] = self.stack.to_terraform()
        self.findings = evaluate(StackDocument(self.stack.node.id, doc), self.rules)
        return self.findings


def raise_on_violations(findings: Iterable[Finding]) -> list[Finding]:
    """Raise :class:`PolicyError` on any unwaived finding; else return the waived ones."""
    findings = list(findings)
    broken = [f for f in findings if f.waiver is None]
    if broken:
        raise PolicyError(broken)
    return findings
