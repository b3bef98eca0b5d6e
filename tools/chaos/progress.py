"""What a running experiment looks like on the operator's screen.

On a terminal, one block (experiment, each action, each stop alarm) redrawn in place at every
poll; anywhere else (a CI log, a pipe), one plain line when something changed, and at least
every :data:`HEARTBEAT_S` so a quiet run still shows it is alive. Notes (an alarm firing, a
stop sent) are printed once, above the block, in both.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol, TextIO

HEARTBEAT_S = 30.0
_RED, _GREEN, _YELLOW, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m"
_COLOURS = {"ALARM": _RED, "failed": _RED, "OK": _GREEN, "completed": _GREEN, "running": _YELLOW}


@dataclass(frozen=True)
class Snapshot:
    """One poll: the experiment's state, each action's and each stop alarm's."""

    elapsed_s: float
    status: str
    reason: str
    actions: tuple[tuple[str, str], ...]
    alarms: tuple[tuple[str, str], ...]

    def same_states(self, other: Snapshot | None) -> bool:
        return other is not None and (self.status, self.actions, self.alarms) == (
            other.status,
            other.actions,
            other.alarms,
        )


class Display(Protocol):
    def show(self, snap: Snapshot) -> None: ...

    def note(self, text: str) -> None: ...


def plain_line(snap: Snapshot) -> str:
    actions = ", ".join(f"{name} {state}" for name, state in snap.actions) or "none"
    alarms = ", ".join(f"{name} {state}" for name, state in snap.alarms)
    reason = f" ({snap.reason})" if snap.reason else ""
    return f"[{snap.elapsed_s:5.0f}s] experiment {snap.status}{reason} | actions: {actions} | stop alarms: {alarms}"


class PlainDisplay:
    """Lines for a log: a change, or the heartbeat."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._last: Snapshot | None = None

    def show(self, snap: Snapshot) -> None:
        quiet = self._last is not None and snap.elapsed_s - self._last.elapsed_s < HEARTBEAT_S
        if snap.same_states(self._last) and quiet:
            return
        self._last = snap
        print(plain_line(snap), file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.out, flush=True)


class TerminalDisplay:
    """A block redrawn in place (ANSI: cursor up, clear to the end of the screen)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._drawn = 0
        self._last: Snapshot | None = None

    def show(self, snap: Snapshot) -> None:
        self._last = snap
        lines = [f"{snap.elapsed_s:5.0f}s  experiment  {_coloured(snap.status)}  {snap.reason}"]
        width = max([len(n) for n, _ in snap.actions + snap.alarms] + [10])
        lines += [f"       action      {name.ljust(width)}  {_coloured(state)}" for name, state in snap.actions]
        lines += [f"       stop alarm  {name.ljust(width)}  {_coloured(state)}" for name, state in snap.alarms]
        self._clear()
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self._drawn = len(lines)

    def note(self, text: str) -> None:
        self._clear()
        self.out.write(text + "\n")
        self.out.flush()
        if self._last is not None:
            self.show(self._last)

    def _clear(self) -> None:
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
        self._drawn = 0


def _coloured(state: str) -> str:
    colour = _COLOURS.get(state)
    return f"{colour}{state}{_RESET}" if colour else state


def display_for(out: TextIO = sys.stdout) -> Display:
    return TerminalDisplay(out) if out.isatty() else PlainDisplay(out)
