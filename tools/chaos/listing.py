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
from modules.policy.rule import blocks

TEMPLATE = "aws_fis_experiment_template"
ALARM_TYPES = ("aws_cloudwatch_metric_alarm", "aws_cloudwatch_composite_alarm")
LABEL_WIDTH = len("stop alarms:") + 1
MIN_ROOM = 30  # characters a wrapped field keeps on a very narrow terminal

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
        actions=tuple(_action(doc, a) for a in blocks(res.body.get("action"))),
        targets=tuple(_target(doc, t) for t in blocks(res.body.get("target"))),
        stop_alarms=tuple(_stop_alarm(doc, c) for c in blocks(res.body.get("stop_condition"))),
        hypothesis=str(tags.get("hypothesis") or told),
    )


def _split_description(description: str) -> tuple[str, str]:
    """``"<fault>. Hypothesis: <hypothesis>"`` -> (fault, hypothesis)."""
    fault, _, hypothesis = description.partition("Hypothesis:")
    return fault.strip().removesuffix(".").strip(), hypothesis.strip()


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
    params = [f"{p.get('key')}={_shown(doc, p.get('value'))}" for p in blocks(action.get("parameter"))]
    targets = [f"{t.get('key')} -> {t.get('value')}" for t in blocks(action.get("target"))]
    detail = "; ".join(targets + params)
    return f"{action.get('name')}: {action.get('action_id')}" + (f" ({detail})" if detail else "")


def _target(doc: StackDocument, target: dict[str, Any]) -> str:
    """Type, selection mode and every way the target is narrowed to this stack's resources."""
    scope = []
    if target.get("resource_arns"):
        scope.append(f"arns {_shown(doc, target['resource_arns'])}")
    scope += [f"tag {t.get('key')}={_shown(doc, t.get('value'))}" for t in blocks(target.get("resource_tag"))]
    scope += [f"{k}={_shown(doc, v)}" for k, v in sorted((target.get("parameters") or {}).items())]
    scope += [f"{f.get('path')} in {_shown(doc, f.get('values'))}" for f in blocks(target.get("filter"))]
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
    """One block per experiment (its ``RUN=`` name, then a labelled line per field, wrapped to
    ``width``), or a sentence saying there is none (and why that may be)."""
    found = [e for doc in stacks for e in experiments(doc)]
    if not stacks:
        return f"No stacks in {source}."
    if not found:
        return (
            f"No chaos experiments in {source} ({len(stacks)} stacks): chaos is disabled "
            "(chaos.enabled = false, RAI_CHAOS_ENABLED) or no stack defines one."
        )
    lines = [f"{len(found)} chaos experiments in {source}; run one with `make chaos RUN=<stack>/<experiment>`."]
    for e in found:
        lines += ["", e.run_name]
        fields = (
            ("fault", [e.fault]),
            ("actions", e.actions),
            ("targets", e.targets),
            ("stop alarms", e.stop_alarms),
            ("hypothesis", [e.hypothesis]),
        )
        for label, items in fields:
            lines += field_lines(label, items, width)
    if without := [doc.name for doc in stacks if not experiments(doc)]:
        lines += ["", f"Stacks without experiments: {', '.join(without)}."]
    return "\n".join(lines)


def field_lines(label: str, items: Sequence[str], width: int) -> list[str]:
    """``label`` then each item on its own line, wrapped under the label's column; a word
    longer than the room (an ARN, a long path) is never cut: it overflows instead."""
    head = f"  {label + ':':<{LABEL_WIDTH}}"
    room = max(width - len(head), MIN_ROOM)
    out = []
    for i, item in enumerate(items or ["-"]):
        wrapped = textwrap.wrap(item, room, break_long_words=False, break_on_hyphens=False) or [""]
        out += [(head if i == 0 and j == 0 else " " * len(head)) + line for j, line in enumerate(wrapped)]
    return out
