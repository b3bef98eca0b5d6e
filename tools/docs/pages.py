"""The generated parts of the hand-written docs pages, so that they never drift.

A page keeps its prose by hand; each generated part sits between
``<!-- BEGIN GENERATED <name> (make docs) -->`` and ``<!-- END GENERATED <name> -->``.
``python -m tools.docs.pages`` rewrites those parts, ``--check`` lists the pages that are
stale (exit 1). ``make docs`` runs it with the scorecard and the diagrams, which are whole
generated files of their own (``tools/docs/scorecard.py``, ``tools/docs/diagrams.py``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

from modules.config.settings import SECTIONS, Settings, load_settings
from modules.config.table import renamed_table, section_table
from modules.core.paths import PROJECT_ROOT
from modules.registry import STACKS
from modules.stack.base import BaseStack
from modules.stack.emulator import adjustments_table
from tools.docs.alarm_table import alarm_table
from tools.docs.layout import layout
from tools.docs.metric_reference import metric_reference, metric_uses
from tools.generated_parts import REGION as _REGION

RENAMED_INTRO = (
    "Settings that moved or were renamed. The old name still works and prints a deprecation message "
    "naming the new one; the old and the new name given together (in any source) are an error."
)


def settings_tables() -> str:
    """One heading and table per settings section: the anchors the stack READMEs link to."""
    parts = ["### Top level", "", "Keys outside any section (`RAI_<KEY>`).", "", section_table(None)]
    for name, model in SECTIONS.items():
        intro = (model.__doc__ or "").strip().splitlines()[0]
        parts += ["", f"### `[{name}]`", "", intro, "", section_table(name)]
    parts += ["", "### Old names", "", RENAMED_INTRO, "", renamed_table()]
    return "\n".join(parts)


def stack_table() -> str:
    """One row per registered stack, in deploy order: its README and what it is, from the first
    sentence of its package's docstring (``The `<name>` stack: <what it is>.``)."""
    rows = ["| stack | what it is |", "|---|---|"]
    for entry in STACKS:
        doc = " ".join((importlib.import_module(entry.package).__doc__ or "").split())
        opening = f"The `{entry.name}` stack: "
        if not doc.startswith(opening):
            raise ValueError(
                f"{entry.package}: its docstring must start with {opening!r} and say what the stack is "
                f"(the README's stack table shows it); it starts {doc[:60]!r}"
            )
        readme = (entry.folder / "README.md").relative_to(PROJECT_ROOT).as_posix()
        rows.append(f"| [`{entry.name}`]({readme}) | {doc.removeprefix(opening).removesuffix('.')} |")
    return "\n".join(rows)


def server_metrics_reference() -> str:
    """Every server metric and what reads it, from the alarm specs and the scaling target the
    serving stacks build with the embedded default settings."""
    return metric_reference(metric_uses(Settings()))


@cache
def default_stacks() -> dict[str, BaseStack]:
    """Every registered stack, built (not synthesized) with the embedded default settings and an
    alarm address."""
    from modules.app import build_app  # imports every stack: only when a page needs them

    # An alarm address beside the defaults: the `alarms` stack, built only when something
    # subscribes, has its table too (no other stack's alarms depend on where they go).
    defaults = load_settings(environ={"RAI_ALARMS_EMAILS": "oncall@example.com"}, settings_file=None)
    app = build_app(defaults, Path(tempfile.mkdtemp(prefix="docs-")))
    return {child.node.id: child for child in app.node.children if isinstance(child, BaseStack)}


def stack_alarms(page: str) -> str:
    """The alarm table of the stack whose README is ``page``, from the specs it declares."""
    (entry,) = [e for e in STACKS if (e.folder / "README.md").relative_to(PROJECT_ROOT).as_posix() == page]
    return alarm_table(default_stacks()[entry.name].alarm_specs)


# Each generator gets the page it writes into (most ignore it).
GENERATORS: Mapping[str, Callable[[str], str]] = {
    "stack-table": lambda _page: stack_table(),
    "settings-tables": lambda _page: settings_tables(),
    "emulator-adjustments": lambda _page: adjustments_table(),
    "server-metrics": lambda _page: server_metrics_reference(),
    "alarms": stack_alarms,
    "layout": lambda _page: layout(),
}

# Each page and the generated parts it must hold: a part lost in an edit is an error. Every
# registered stack's README holds its alarm table.
PAGES: Mapping[str, tuple[str, ...]] = {
    "README.md": ("stack-table",),
    "docs/settings.md": ("settings-tables",),
    "docs/testing.md": ("emulator-adjustments",),
    "docs/metrics.md": ("server-metrics",),
    "docs/layout.md": ("layout",),
    **{(entry.folder / "README.md").relative_to(PROJECT_ROOT).as_posix(): ("alarms",) for entry in STACKS},
}


def render(text: str, expected: tuple[str, ...], where: str) -> str:
    """``text`` with every generated part rewritten from its generator."""
    found = [m["name"] for m in _REGION.finditer(text)]
    missing = [name for name in expected if name not in found]
    unknown = [name for name in found if name not in GENERATORS]
    if missing or unknown:
        raise ValueError(
            f"{where}: generated part(s) missing: {missing or 'none'}; unknown: {unknown or 'none'} "
            f"(known: {sorted(GENERATORS)}; a part is <!-- BEGIN GENERATED <name> (make docs) --> ... "
            "<!-- END GENERATED <name> -->)"
        )
    return _REGION.sub(lambda m: f"{m['begin']}{GENERATORS[m['name']](where)}\n{m['end']}", text)


def stale_pages(root: Path = PROJECT_ROOT) -> list[str]:
    """The pages whose generated parts differ from what the generators give now."""
    stale = []
    for page, expected in PAGES.items():
        text = (root / page).read_text()
        if render(text, expected, page) != text:
            stale.append(page)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rewrite the generated parts of the docs pages")
    parser.add_argument("--check", action="store_true", help="list the stale pages and exit 1, writing nothing")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages()
        for page in stale:
            print(f"{page} is stale: run `make docs`", file=sys.stderr)
        return 1 if stale else 0
    for page, expected in PAGES.items():
        path = PROJECT_ROOT / page
        path.write_text(render(path.read_text(), expected, page))
        print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
