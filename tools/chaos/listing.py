"""The chaos experiments of a synth, read from its Terraform JSON (``aws_fis_experiment_template``).

Only the JSON is read (:mod:`modules.policy.document`), never the constructs: a stop
condition is a reference ``${aws_cloudwatch_metric_alarm.<id>.arn}`` there, followed to that
alarm's ``alarm_name`` in the same stack; a target's cluster, service or group reference is
shown as the construct path of what it names.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modules.policy.document import Resource, StackDocument, data_references, references

TEMPLATE = "aws_fis_experiment_template"
ALARM_TYPES = ("aws_cloudwatch_metric_alarm", "aws_cloudwatch_composite_alarm")
HEADERS = ("stack", "experiment", "fault", "actions", "targets", "stop alarms", "hypothesis")
# Share of the line each column gets when the table must shrink to fit; 0: never wrapped
# (names an operator copies: the stack, the experiment, the alarms).
WEIGHTS = (0, 0, 3, 3, 4, 0, 4)
LONGEST_WORD = 40

_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")


@dataclass(frozen=True)
class Experiment:
    """One experiment template as an operator reads it."""

    stack: str
    key: str
    fault: str
    actions: tuple[str, ...]
    targets: tuple[str, ...]
    stop_alarms: tuple[str, ...]
    hypothesis: str

    @property
    def run_name(self) -> str:
        """What ``make chaos RUN=`` takes."""
        return f"{self.stack}/{self.key}"


def experiments(doc: StackDocument) -> list[Experiment]:
    """Every experiment template of one stack, in construct-path order."""
    found = [_experiment(doc, res) for res in doc.of_type(TEMPLATE)]
    return sorted(found, key=lambda e: e.key)


def _experiment(doc: StackDocument, res: Resource) -> Experiment:
    tags = res.body.get("tags") or {}
    fault, told = _split_description(str(res.body.get("description", "")))
    return Experiment(
        stack=doc.name,
        key=str(tags.get("experiment") or res.path.rsplit("/", 1)[-1].removeprefix("experiment-")),
        fault=fault,
        actions=tuple(_action(doc, a) for a in _blocks(res.body.get("action"))),
        targets=tuple(_target(doc, t) for t in _blocks(res.body.get("target"))),
        stop_alarms=tuple(_stop_alarm(doc, c) for c in _blocks(res.body.get("stop_condition"))),
        hypothesis=str(tags.get("hypothesis") or told),
    )


def _split_description(description: str) -> tuple[str, str]:
    """``"<fault>. Hypothesis: <hypothesis>"`` -> (fault, hypothesis)."""
    fault, _, hypothesis = description.partition("Hypothesis:")
    return fault.strip().removesuffix(".").strip(), hypothesis.strip()


def _blocks(value: Any) -> list[dict[str, Any]]:
    """A repeated block as a list: cdktf writes one block of a kind as a bare object."""
    if isinstance(value, dict):
        return [value]
    return [v for v in value or [] if isinstance(v, dict)]


def _shown(doc: StackDocument, value: Any) -> str:
    """``value`` with each ``${<reference>}`` to one resource or data source of the stack
    replaced by its construct path (without the stack name): the name a reader of the code
    knows it by. An ARN is shown from its resource part (``subnet/network/private-0``)."""

    def one(match: re.Match[str]) -> str:
        found = [doc.lookup(t, n) for t, n in references(match[1])]
        found += [_data(doc, t, n) for t, n in data_references(match[1])]
        named = [r for r in found if r is not None]
        return named[0].path.removeprefix(f"{doc.name}/") if len(named) == 1 else match[0]

    texts = [_INTERPOLATION.sub(one, str(v)) for v in (value if isinstance(value, list) else [value])]
    return ", ".join(t.split(":", 5)[5] if t.startswith("arn:") and t.count(":") >= 5 else t for t in texts)


def _data(doc: StackDocument, rtype: str, name: str) -> Resource | None:
    body = doc.doc.get("data", {}).get(rtype, {}).get(name)
    return Resource(rtype, name, body) if isinstance(body, dict) else None


def _action(doc: StackDocument, action: dict[str, Any]) -> str:
    params = [f"{p.get('key')}={_shown(doc, p.get('value'))}" for p in _blocks(action.get("parameter"))]
    targets = [f"{t.get('key')} -> {t.get('value')}" for t in _blocks(action.get("target"))]
    detail = "; ".join(targets + params)
    return f"{action.get('name')}: {action.get('action_id')}" + (f" ({detail})" if detail else "")


def _target(doc: StackDocument, target: dict[str, Any]) -> str:
    """Type, selection mode and every way the target is narrowed to this stack's resources."""
    scope = []
    if target.get("resource_arns"):
        scope.append(f"arns {_shown(doc, target['resource_arns'])}")
    scope += [f"tag {t.get('key')}={_shown(doc, t.get('value'))}" for t in _blocks(target.get("resource_tag"))]
    scope += [f"{k}={_shown(doc, v)}" for k, v in sorted((target.get("parameters") or {}).items())]
    scope += [f"{f.get('path')} in {_shown(doc, f.get('values'))}" for f in _blocks(target.get("filter"))]
    head = f"{target.get('name')}: {target.get('resource_type')} {target.get('selection_mode')}"
    return head + (f" ({'; '.join(scope)})" if scope else " (NOT SCOPED)")


def _stop_alarm(doc: StackDocument, condition: dict[str, Any]) -> str:
    """The alarm's name; a stop condition that is no alarm of this stack says what it is."""
    value = condition.get("value", "")
    alarms = doc.referenced(value, *ALARM_TYPES)
    if len(alarms) == 1:
        return str(alarms[0].body.get("alarm_name", alarms[0].address))
    return f"{value or condition.get('source')} (not an alarm of this stack)"


def render(stacks: Sequence[StackDocument], width: int, source: str) -> str:
    """The table of every experiment, or a sentence saying there is none (and why that may be)."""
    rows = [e for doc in stacks for e in experiments(doc)]
    if not stacks:
        return f"No stacks in {source}."
    if not rows:
        return (
            f"No chaos experiments in {source} ({len(stacks)} stacks): chaos is disabled "
            "(chaos.enabled = false, RAI_CHAOS_ENABLED) or no stack defines one."
        )
    without = [doc.name for doc in stacks if not experiments(doc)]
    cells = [
        [[e.stack], [e.run_name], [e.fault], list(e.actions), list(e.targets), list(e.stop_alarms), [e.hypothesis]]
        for e in rows
    ]
    lines = [f"{len(rows)} chaos experiments in {source}; run one with `make chaos RUN=<stack>/<experiment>`.", ""]
    lines += table(HEADERS, cells, width)
    if without:
        lines += ["", f"Stacks without experiments: {', '.join(without)}."]
    return "\n".join(lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[Sequence[str]]], width: int) -> list[str]:
    """A plain-text table; each cell is a list of items, each item wrapped inside its column."""
    widths = _widths(headers, rows, width)
    out = [_line([[h] for h in headers], widths), "  ".join("-" * w for w in widths)]
    for row in rows:
        out += [*_row(row, widths), ""]
    return out[:-1]


def _widths(headers: Sequence[str], rows: Sequence[Sequence[Sequence[str]]], width: int) -> list[int]:
    """Each column as wide as its longest item; the wrappable ones shrunk by weight until the
    table fits ``width``, never below their longest word (only a word over :data:`LONGEST_WORD`
    characters, an ARN or a long path, is cut)."""
    items = [[item for row in rows for item in row[i]] for i in range(len(headers))]
    natural = [max([len(h)] + [len(item) for item in column]) for h, column in zip(headers, items, strict=True)]
    least = [
        max([len(h)] + [len(word) + 2 for item in column for word in item.split()])
        for h, column in zip(headers, items, strict=True)
    ]
    room = width - 2 * (len(headers) - 1)
    widths = natural[:]
    wrappable = [i for i, weight in enumerate(WEIGHTS) if weight]
    while sum(widths) > room:
        # One character off the column furthest over its share of what the wrappable ones get.
        share = room - sum(w for i, w in enumerate(widths) if i not in wrappable)
        left = [i for i in wrappable if widths[i] > least[i]]
        if not left:
            break
        widest = max(left, key=lambda i: widths[i] - share * WEIGHTS[i] / sum(WEIGHTS))
        widths[widest] -= 1
    return widths


def _row(row: Sequence[Sequence[str]], widths: Sequence[int]) -> list[str]:
    """Cells side by side; in a cell of several items, an item's further lines are indented."""
    wrapped = [
        [
            line
            for item in cell
            for line in textwrap.wrap(item, w, subsequent_indent="  " if len(cell) > 1 else "", break_on_hyphens=False)
            or [""]
        ]
        for cell, w in zip(row, widths, strict=True)
    ]
    height = max(len(c) for c in wrapped)
    return [_line([[c[i] if i < len(c) else ""] for c in wrapped], widths) for i in range(height)]


def _line(cells: Sequence[Sequence[str]], widths: Sequence[int]) -> str:
    return "  ".join(cell[0].ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()
