"""The generated parts of a docs page: ``<!-- BEGIN GENERATED <name> (make docs) -->`` ...
``<!-- END GENERATED <name> -->``. Beside ``tools/docs`` and ``tools/cost``, which both write
such parts: the cost tool writes the tables of ``docs/cost.md`` without importing the docs
tooling (whose ``pages.py`` needs the settings and jsii), and the docs read its costs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

REGION = re.compile(
    r"(?P<begin><!-- BEGIN GENERATED (?P<name>[a-z-]+) \(make docs\) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<end><!-- END GENERATED (?P=name) -->)",
    re.DOTALL,
)


def replace_part(text: str, name: str, body: str, where: str) -> str:
    """``text`` with its generated part ``name`` set to ``body``."""
    if name not in [m["name"] for m in REGION.finditer(text)]:
        raise ValueError(f"{where}: generated part {name!r} missing (<!-- BEGIN GENERATED {name} (make docs) -->)")
    return REGION.sub(lambda m: f"{m['begin']}{body}\n{m['end']}" if m["name"] == name else m[0], text)


def write_or_check(path: Path, text: str, *, check: bool, fix: str) -> bool:
    """Write ``text`` to ``path``; with ``check``, write nothing and say on stderr whether the
    file differs (``fix``: the command that refreshes it). True when the file is (now) current."""
    if not check:
        path.write_text(text)
        return True
    if path.exists() and path.read_text() == text:
        return True
    print(f"{path} is stale: run `{fix}`", file=sys.stderr)
    return False
