"""The faults a stack claims to survive: each either backed by a chaos experiment of the stack
(its key; the template is ``<stack>/chaos/experiment-<key>``) or with the reason there is none.

Each stack keeps its own claims in ``faults.py`` of its folder (``FAULT_CLAIMS``); its experiments
take their fault text from there (:meth:`FaultClaims.fault`), and the scorecard and the chaos
tests read them with :func:`claims_of`. Plain data: it imports no construct, so a tool reads the
claims without building a stack.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from modules import registry
from modules.registry import Registered

_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")

FAULTS_MODULE = "faults"  # <stack package>.faults, when the stack claims faults
FAULTS_NAME = "FAULT_CLAIMS"


@dataclass(frozen=True, kw_only=True)
class FaultClaim:
    """One fault the stack claims to survive: ``experiment`` (a key) runs it on AWS, or
    ``no_experiment`` says why nothing does and what covers it instead."""

    fault: str
    experiment: str = ""
    no_experiment: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not self.fault.strip():
            problems.append("fault: must say what fails")
        if bool(self.experiment) == bool(self.no_experiment.strip()):
            problems.append("experiment, no_experiment: exactly one (an experiment key, or why there is none)")
        if self.experiment and not _KEY.match(self.experiment):
            problems.append(f"experiment={self.experiment!r}: must be lower-case letters, digits and -")
        if problems:
            raise ValueError(f"FaultClaim {self.fault!r}: " + "; ".join(problems))


class FaultClaims:
    """The claims of one stack, in the order they are listed; experiment keys are unique."""

    def __init__(self, *claims: FaultClaim) -> None:
        keys = [c.experiment for c in claims if c.experiment]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise ValueError(f"FaultClaims: experiment {', '.join(repeated)} claimed more than once")
        self.claims = claims

    def __iter__(self) -> Iterator[FaultClaim]:
        return iter(self.claims)

    def __len__(self) -> int:
        return len(self.claims)

    def fault(self, experiment: str) -> str:
        """The fault text of experiment ``experiment``: what its template's description says."""
        for claim in self.claims:
            if claim.experiment == experiment:
                return claim.fault
        known = ", ".join(c.experiment for c in self.claims if c.experiment) or "none"
        raise KeyError(f"experiment {experiment!r}: no fault claim names it (claimed: {known})")


NO_CLAIMS = FaultClaims()


def claims_in(entry: Registered) -> FaultClaims:
    """The claims in ``entry``'s ``faults.py`` (none when the stack has no such module)."""
    return claims_in_package(entry.package)


def claims_in_package(package: str) -> FaultClaims:
    """The claims in ``<package>.faults`` (none when there is no such module)."""
    module_name = f"{package}.{FAULTS_MODULE}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return NO_CLAIMS
    claims = getattr(module, FAULTS_NAME, None)
    if not isinstance(claims, FaultClaims):
        raise TypeError(f"{module_name}.{FAULTS_NAME}: must be FaultClaims, found {type(claims).__name__}")
    return claims


def claims_of(stack: str) -> FaultClaims:
    """The claims of the registered stack named ``stack``; none for a stack the registry does not
    list (a synthesized stack of another app, such as a test's)."""
    for entry in registry.STACKS:
        if entry.name == stack:
            return claims_in(entry)
    return NO_CLAIMS
