"""The analytics step: per-key tumbling-window statistics with an anomaly score.

Input records are JSON objects ``{"id": str, "key": str, "value": number, "ts": number}``
(``ts`` in epoch seconds, event time). For each record the worker emits one result line:

- the key's statistics in its tumbling window ``[floor(ts / window_s) * window_s, +window_s)``
  *before* this record (count, mean, sample standard deviation; Welford's algorithm, so one
  pass and numerically stable);
- ``z_score = (value - mean) / std`` once the window holds at least ``min_count`` values
  (0 before), capped at :data:`Z_CAP`; ``anomaly`` when ``|z_score| >= threshold``;
- ``late`` when the record's window is older than the key's current window: it is reported
  but neither scored nor counted, so a late record never rewrites a closed window.

Statistics are per shard and key (producers use the key as partition key, so a key lives in
one shard between reshards). The state is a plain dict that the worker checkpoints with the
shard's sequence number, so a replay from a checkpoint yields byte-identical results. At most
``max_keys`` keys are kept: the ones whose window is oldest are evicted first.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

Z_CAP = 1e6  # a value off a zero-variance window: "infinitely" anomalous, but JSON-safe
MAX_ID_CHARS = 256


class PoisonRecord(ValueError):
    """A record that can never be processed; the message is the reason."""


@dataclass(frozen=True)
class Event:
    event_id: str
    key: str
    value: float
    ts: float


@dataclass(frozen=True)
class AnalyticsParams:
    window_s: int = 60
    min_count: int = 5
    threshold: float = 3.0
    max_keys: int = 2000  # bounds the checkpoint item (DynamoDB items are <= 400 KB)


def parse(data: bytes) -> Event:
    """The event in a record's data; :class:`PoisonRecord` says why it is unusable."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PoisonRecord(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise PoisonRecord(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, dict):
        raise PoisonRecord(f"schema: expected a JSON object, got {type(doc).__name__}")
    problems = []
    event_id, key, value, ts = doc.get("id"), doc.get("key"), doc.get("value"), doc.get("ts")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_ID_CHARS:
        problems.append(f"'id' must be a string of 1-{MAX_ID_CHARS} characters")
    if not isinstance(key, str) or not key:
        problems.append("'key' must be a non-empty string")
    if not _is_number(value):
        problems.append("'value' must be a finite number")
    if not _is_number(ts) or ts < 0:  # type: ignore[operator]
        problems.append("'ts' must be a finite number of epoch seconds >= 0")
    if problems:
        raise PoisonRecord("schema: " + "; ".join(problems))
    assert isinstance(event_id, str) and isinstance(key, str) and isinstance(value, int | float)
    assert isinstance(ts, int | float)
    return Event(event_id=event_id, key=key, value=float(value), ts=float(ts))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


State = dict[str, list[float]]  # key -> [window_start, count, mean, m2]


def score(state: State, event: Event, params: AnalyticsParams) -> dict[str, Any]:
    """The result for ``event``; updates ``state`` in place."""
    window_start = math.floor(event.ts / params.window_s) * params.window_s
    current = state.get(event.key)
    if current is None or window_start > current[0]:
        current = [float(window_start), 0.0, 0.0, 0.0]
        state[event.key] = current
    late = window_start < current[0]
    _, count, mean, m2 = current
    count_before, mean_before = count, mean
    std = math.sqrt(m2 / (count - 1)) if count >= 2 else 0.0
    z = 0.0
    if not late and count >= params.min_count:
        if std > 0:
            z = max(-Z_CAP, min(Z_CAP, (event.value - mean) / std))
        elif event.value != mean:
            z = math.copysign(Z_CAP, event.value - mean)
    if not late:
        count += 1
        delta = event.value - mean
        mean += delta / count
        m2 += delta * (event.value - mean)
        current[1:] = [count, mean, m2]
    return {
        "id": event.event_id,
        "key": event.key,
        "value": event.value,
        "ts": event.ts,
        "window_start": window_start,
        "window_count_before": int(count_before),
        "window_mean_before": _round(mean_before),
        "window_std_before": _round(std),
        "z_score": _round(z),
        "anomaly": abs(z) >= params.threshold,
        "late": late,
    }


def evict(state: State, max_keys: int) -> None:
    """Drop the keys with the oldest windows until at most ``max_keys`` remain."""
    if len(state) > max_keys:
        for key, _ in sorted(state.items(), key=lambda kv: (kv[1][0], kv[0]))[: len(state) - max_keys]:
            del state[key]


def _round(x: float) -> float:
    return round(x, 9)
