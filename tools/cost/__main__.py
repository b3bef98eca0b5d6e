"""``python -m tools.cost [SOURCE] [--defaults [--check]]`` (``make cost``).

Prints the fixed monthly cost of SOURCE (default ``cdktf.out``, synthesized with the current
settings first when it holds no stack) per stack and per resource kind. When the current
settings are the embedded defaults it also rewrites the tables in ``docs/cost.md``, which
describe the defaults only. ``--defaults`` synthesizes the defaults itself (``make docs``);
with ``--check`` it writes nothing and exits 1 when ``docs/cost.md`` is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modules.core.paths import PROJECT_ROOT
from modules.policy.document import StackDocument, load_outdir
from tools.cost.prices import load_prices
from tools.cost.report import UnclassifiedError, render, stack_cost, text_report
from tools.docs.parts import replace_part

DOC = PROJECT_ROOT / "docs" / "cost.md"
PART = "cost-tables"


def fresh_doc(docs: list[StackDocument], page: Path = DOC) -> str:
    """``page`` with its cost tables made from ``docs``."""
    return replace_part(page.read_text(), PART, render(docs, load_prices()), str(page.relative_to(PROJECT_ROOT)))


def _current_stacks(source: Path) -> list[StackDocument]:
    docs = load_outdir(str(source))
    if not docs:
        from modules.app import synth
        from modules.config import load_settings

        print(f"no stacks under {source}: synthesizing the current settings first", file=sys.stderr)
        synth(load_settings(), source)
        docs = load_outdir(str(source))
    return docs


def _settings_are_defaults() -> bool:
    from modules.config import load_settings

    return load_settings() == load_settings(environ={}, settings_file=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the fixed monthly cost of the synthesized stacks")
    parser.add_argument("source", nargs="?", default="cdktf.out", help="synth output dir (default: cdktf.out)")
    parser.add_argument("--defaults", action="store_true", help="synthesize the embedded defaults; write docs/cost.md")
    parser.add_argument("--check", action="store_true", help="with --defaults: exit 1 if docs/cost.md is stale")
    args = parser.parse_args(argv)
    if args.defaults:
        from tools.docs.default_synth import default_stacks

        docs, source = default_stacks(), "the embedded defaults"
    else:
        docs, source = _current_stacks(Path(args.source)), args.source
    prices = load_prices()
    try:
        print(text_report([stack_cost(doc, prices) for doc in docs], prices, source))
        text = fresh_doc(docs)
    except (UnclassifiedError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if DOC.read_text() != text:
            print(f"{DOC} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    if args.defaults or _settings_are_defaults():
        DOC.write_text(text)
        print(f"wrote {DOC.relative_to(PROJECT_ROOT)}")
    else:
        print(f"{DOC.relative_to(PROJECT_ROOT)} not written: it shows the embedded defaults (`make docs` writes it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
