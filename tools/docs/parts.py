"""The generated parts of a docs page: ``<!-- BEGIN GENERATED <name> (make docs) -->`` ...
``<!-- END GENERATED <name> -->``. Apart from ``pages.py`` so that a tool that writes a part of
its own (``tools/cost``) does not import the settings and jsii that ``pages.py`` needs."""

from __future__ import annotations

import re

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
