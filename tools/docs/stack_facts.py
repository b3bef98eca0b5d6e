"""What the scorecard and the diagrams both read from a stack's JSON: a resource's short path,
a target group's health-check timing, and whether a queue is a dead-letter queue."""

from __future__ import annotations

from typing import Any

from modules.policy.document import Resource, StackDocument
from modules.policy.rules import dead_letter_targets

# AWS defaults when an argument is not written (provider 5.100.0 / service docs).
TG_DEFAULTS = {"interval": 30, "unhealthy_threshold": 3, "healthy_threshold": 3}


def short_path(doc: StackDocument, res: Resource) -> str:
    """The construct path without the stack name."""
    return res.path.removeprefix(f"{doc.name}/")


def as_int(value: Any, default: int) -> int:
    """``value`` as an int, ``default`` when the JSON leaves it out or holds a reference."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def target_detection(doc: StackDocument, tg: Resource) -> tuple[int, int, int]:
    """(interval s, unhealthy threshold, healthy threshold) of a target group's health check."""
    hc = tg.get("health_check", {}) or {}
    return (
        as_int(hc.get("interval"), TG_DEFAULTS["interval"]),
        as_int(hc.get("unhealthy_threshold"), TG_DEFAULTS["unhealthy_threshold"]),
        as_int(hc.get("healthy_threshold"), TG_DEFAULTS["healthy_threshold"]),
    )


def is_dead_letter_queue(doc: StackDocument, queue: Resource) -> bool:
    return (queue.type, queue.name) in dead_letter_targets(doc) or "sqs-redrive" in queue.waivers
