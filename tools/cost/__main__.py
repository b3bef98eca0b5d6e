"""``python -m tools.cost [SOURCE | --defaults [--check]]`` (``make cost``).

Prints the fixed monthly cost of the environment's synth output (``cdktf.out``,
``cdktf.out.<environment>``; synthesized with the current settings first
when it holds no stack or is out of date: :mod:`tools.current_synth`) per stack and per
resource kind, then rewrites the tables of ``docs/cost.md`` from a synth of the embedded
defaults (the page shows the defaults, never a developer's settings). With SOURCE, prints
that synth output only (saying whether it is out of date). ``--defaults`` prints
and writes the defaults (``make docs``); with ``--check`` it writes nothing and exits 1 when
``docs/cost.md`` is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from modules.core.paths import PROJECT_ROOT
from modules.policy.document import StackDocument
from tools.cost.prices import load_prices
from tools.cost.report import UnclassifiedError, render, stack_cost, text_report
from tools.current_synth import current_stacks
from tools.generated_parts import replace_part, write_or_check
from tools.synth_output import current_outdir

DOC = PROJECT_ROOT / "docs" / "cost.md"
PART = "cost-tables"


def fresh_doc(docs: list[StackDocument], page: Path = DOC) -> str:
    """``page`` with its cost tables made from ``docs``."""
    return replace_part(page.read_text(), PART, render(docs, load_prices()), str(page.relative_to(PROJECT_ROOT)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the fixed monthly cost of the synthesized stacks")
    parser.add_argument(
        "source", nargs="?", help="a synth output dir: print its cost only (default: the environment's, cdktf.out)"
    )
    parser.add_argument("--defaults", action="store_true", help="synthesize the embedded defaults; write docs/cost.md")
    parser.add_argument("--check", action="store_true", help="with --defaults: exit 1 if docs/cost.md is stale")
    args = parser.parse_args(argv)
    from tools.default_synth import default_stacks

    source = Path(args.source) if args.source else None
    prices = load_prices()
    try:
        docs = default_stacks() if args.defaults else current_stacks(source)
        origin = "the embedded defaults" if args.defaults else str(source or current_outdir())
        print(text_report([stack_cost(doc, prices) for doc in docs], prices, origin))
        if args.source:
            return 0
        text = fresh_doc(docs if args.defaults else default_stacks())
    except (UnclassifiedError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not write_or_check(DOC, text, check=args.check, fix="make docs"):
        return 1
    if not args.check:
        print(f"wrote {DOC.relative_to(PROJECT_ROOT)} (the embedded defaults)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
