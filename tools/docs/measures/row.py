"""One row of a stack's scorecard table, and how a resource is named in it."""

from __future__ import annotations

from dataclasses import dataclass

from modules.policy.document import Resource, StackDocument
from tools.docs.stack_facts import short_path


@dataclass(frozen=True)
class Row:
    measure: str
    value: str
    detail: str


def path_cell(doc: StackDocument, res: Resource) -> str:
    """The construct path without the stack name, as code: what a reader of the code recognises."""
    return f"`{short_path(doc, res)}`"
