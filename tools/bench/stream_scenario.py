"""Scenario files of ``make bench-stream-scale``: a fleet and a timeline of events.

One statement a line; ``#`` starts a comment::

    start shards=200 workers=20   # first: the stream and the fleet
    steady 2                      # hold for 2 lease TTLs
    join 5                        # 5 workers start at once
    kill 5                        # 5 workers die (kill -9: no drain, no release)
    drain 5                       # 5 workers get a spot interruption notice
    reshard split=50 merge=20     # split 50 open shards, merge 20 pairs of adjacent ones
    shrink 4                      # drain workers until 4 are left

:func:`parse` checks the whole timeline before anything runs (no more kills than live
workers, no more splits and merges than open shards) and names the line of every problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

EVENTS = ("steady", "join", "kill", "drain", "reshard", "shrink")


class ScenarioError(ValueError):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"invalid scenario {source}:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Event:
    kind: str
    count: int = 0  # steady: lease TTLs; join, kill, drain: workers; shrink: workers left
    split: int = 0
    merge: int = 0
    line: int = 0

    def label(self) -> str:
        if self.kind == "reshard":
            return f"reshard: {self.split} splits, {self.merge} merges"
        if self.kind == "steady":
            return f"steady ({self.count} TTLs)"
        return {"shrink": f"shrink to {self.count}", "kill": f"kill -9 {self.count}"}.get(
            self.kind, f"{self.kind} {self.count}"
        )


@dataclass(frozen=True)
class Scenario:
    shards: int
    workers: int
    events: tuple[Event, ...]


def _count(text: str, what: str) -> int:
    if not re.fullmatch(r"\d+", text):
        raise ValueError(f"{what} {text!r}: must be a whole number >= 0")
    return int(text)


def _keywords(args: list[str], allowed: tuple[str, ...]) -> dict[str, int]:
    found: dict[str, int] = {}
    for arg in args:
        name, sep, value = arg.partition("=")
        if not sep or name not in allowed:
            raise ValueError(f"{arg!r}: expected {' '.join(f'{a}=N' for a in allowed)}")
        found[name] = _count(value, name)
    missing = [a for a in allowed if a not in found]
    if missing:
        raise ValueError(f"missing {', '.join(f'{a}=N' for a in missing)}")
    return found


def parse(text: str, source: str = "<scenario>") -> Scenario:
    problems: list[str] = []
    start: dict[str, int] | None = None
    events: list[Event] = []
    live = shards = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        kind, args = words[0], words[1:]
        try:
            if start is None:
                if kind != "start":
                    raise ValueError(f"the first statement must be 'start shards=N workers=N', not {kind!r}")
                start = _keywords(args, ("shards", "workers"))
                shards, live = start["shards"], start["workers"]
                if shards < 1 or live < 1:
                    raise ValueError("a stream needs shards >= 1 and a fleet workers >= 1")
                continue
            if kind not in EVENTS:
                raise ValueError(f"unknown event {kind!r} (known: start, {', '.join(EVENTS)})")
            if kind == "reshard":
                sizes = _keywords(args, ("split", "merge"))
                if sizes["split"] + 2 * sizes["merge"] > shards:
                    raise ValueError(
                        f"{sizes['split']} splits and {sizes['merge']} merges need "
                        f"{sizes['split'] + 2 * sizes['merge']} open shards; {shards} are open"
                    )
                shards += sizes["split"] - sizes["merge"]
                events.append(Event(kind, split=sizes["split"], merge=sizes["merge"], line=number))
                continue
            if len(args) != 1:
                raise ValueError(f"{kind} takes one count, got {len(args)}")
            count = _count(args[0], kind)
            if kind in ("kill", "drain") and count > live:
                raise ValueError(f"{kind} {count}: only {live} workers are live at that point")
            if kind == "shrink" and not 1 <= count <= live:
                raise ValueError(f"shrink {count}: must leave between 1 and the {live} live workers")
            live += count if kind == "join" else -count if kind in ("kill", "drain") else 0
            live = count if kind == "shrink" else live
            if live < 1 and kind in ("kill", "drain"):
                raise ValueError(f"{kind} {count}: would leave no live worker")
            events.append(Event(kind, count=count, line=number))
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    if start is None:
        problems.append("no 'start shards=N workers=N' statement")
    if problems:
        raise ScenarioError(source, problems)
    assert start is not None
    return Scenario(start["shards"], start["workers"], tuple(events))


def load(path: Path) -> Scenario:
    return parse(path.read_text(), str(path))
