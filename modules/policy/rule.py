"""What a resilience rule is, and the small readers the rules share."""

from __future__ import annotations

from typing import Any, ClassVar

from modules.policy.document import Resource, StackDocument


class Rule:
    """One resilience rule. ``id`` is what a waiver names."""

    id: ClassVar[str]
    summary: ClassVar[str]
    types: ClassVar[tuple[str, ...]]

    def check(self, doc: StackDocument, res: Resource) -> list[str]:
        raise NotImplementedError


def is_true(value: Any) -> bool:
    return value is True or value == "true"


def blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
