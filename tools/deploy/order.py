"""Which stacks a deploy or destroy runs, in which order, and what a destroy must not touch.

Pure functions of the settings' stack choice and the synthesized JSON (``manifest.json``'s
dependencies, each stack's ``cdk.tf.json``), so they are tested without AWS:

* :func:`waves`: the stacks in layers, each after every stack it depends on (``state`` first,
  the shared ``network`` before the stacks in it), as ``cdktf deploy '*'`` orders them; a
  destroy runs the layers backwards;
* :func:`destroy_targets`: what ``make destroy`` takes down (every chosen stack but ``state``,
  unless asked), refused when a stack that depends on one of them would be left standing;
* :func:`protected_resources`: every resource with ``prevent_destroy``, by stack.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modules.registry import STACKS, STATE_STACK


class Refused(Exception):
    """The run is refused before anything is touched; one line per reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def chosen_stacks(built: Sequence[str], named: Sequence[str]) -> list[str]:
    """The stacks named (``STACKS=``), else every stack the app builds (``tooling.stacks``, else all),
    in the registry's order."""
    registered = [entry.name for entry in STACKS]
    built = list(built) or registered
    unknown = [name for name in named if name not in registered]
    if unknown:
        raise Refused([f"STACKS: unknown stack(s) {', '.join(unknown)}; known: {', '.join(registered)}"])
    outside = [name for name in named if name not in built]
    if outside:
        raise Refused([f"STACKS: {', '.join(outside)} not built: tooling.stacks is {', '.join(built)}"])
    return [name for name in registered if name in built and (not named or name in named)]


def dependencies(outdir: Path) -> dict[str, set[str]]:
    """Every synthesized stack -> the stacks it depends on (cdktf's ``manifest.json``)."""
    manifest = json.loads((outdir / "manifest.json").read_text())["stacks"]
    return {name: set(body.get("dependencies", [])) for name, body in manifest.items()}


def waves(deps: Mapping[str, set[str]], names: Sequence[str]) -> list[list[str]]:
    """``names`` in layers: a stack comes in the first layer after every stack of ``names`` it
    depends on (a dependency outside ``names`` is taken as deployed). Order within a layer: ``names``'."""
    placed: dict[str, int] = {}
    left = list(names)
    while left:
        ready = [n for n in left if all(d in placed for d in deps.get(n, set()) & set(names))]
        if not ready:
            raise ValueError(f"dependency cycle among {', '.join(left)}")
        for name in ready:
            placed[name] = 1 + max((placed[d] for d in deps.get(name, set()) & set(names)), default=-1)
            left.remove(name)
    layers: list[list[str]] = [[] for _ in range(max(placed.values(), default=-1) + 1)]
    for name in names:
        layers[placed[name]].append(name)
    return layers


def destroy_targets(chosen: Sequence[str], deps: Mapping[str, set[str]], *, with_state: bool) -> list[str]:
    """What a destroy takes down: ``chosen`` without ``state`` unless ``with_state``. Refused when
    a synthesized stack that depends on a target is not a target itself: it would be left on a
    destroyed VPC or state bucket."""
    targets = [n for n in chosen if n != STATE_STACK or with_state]
    left_standing = {
        target: sorted(n for n, needs in deps.items() if target in needs and n not in targets) for target in targets
    }
    problems = [
        f"{target}: {', '.join(users)} depend(s) on it; destroy them too (STACKS=) or keep {target}"
        for target, users in left_standing.items()
        if users
    ]
    if problems:
        raise Refused(problems)
    return targets


def protected_resources(docs: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """Stack -> ``type.name (construct path)`` of every resource with ``lifecycle.prevent_destroy``."""
    found: dict[str, list[str]] = {}
    for stack, doc in docs.items():
        for rtype, resources in doc.get("resource", {}).items():
            for name, body in resources.items():
                if body.get("lifecycle", {}).get("prevent_destroy") is True:
                    path = body.get("//", {}).get("metadata", {}).get("path", "")
                    found.setdefault(stack, []).append(f"{rtype}.{name}" + (f" ({path})" if path else ""))
    return found


def stack_docs(outdir: Path, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The synthesized JSON of each of ``names``."""
    return {name: json.loads((outdir / "stacks" / name / "cdk.tf.json").read_text()) for name in names}
