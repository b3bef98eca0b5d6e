"""Relative links in the docs that lead nowhere: a missing file, or an anchor no heading has;
and project paths named in code spans (`tests/test_x.py`) that no longer exist.

Anchors follow GitHub's heading ids: the heading's text lowercased, every character that is
not a letter, digit, space, ``-`` or ``_`` dropped, each space turned into ``-``, and ``-1``,
``-2``... added to repeats. ``python -m tools.docs.links`` prints the broken links and
paths (exit 1).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote

from modules.core.paths import PROJECT_ROOT

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.DOTALL | re.MULTILINE)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# The tail of every inline link or image: `](target)` or `](target "title")`. Matching the
# tail rather than `[text](...)` also finds both links of `[![alt](image)](page)`.
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$", re.MULTILINE)
_INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_NOT_SLUG = re.compile(r"[^\w\- ]")
# A path from the project root in a code span; placeholders (`<name>`) and globs are skipped.
_PROJECT_PATH = re.compile(r"`((?:docs|handlers|modules|tests|tools)/[^`\s<>*]*)`")


def _prose(text: str) -> str:
    """``text`` without what GitHub renders literally: fenced blocks and HTML comments."""
    return _HTML_COMMENT.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's id for a heading's markdown text (before de-duplication)."""
    text = _INLINE_LINK.sub(r"\1", heading).replace("`", "")
    return _NOT_SLUG.sub("", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading id of a markdown page, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    ids = set()
    for match in _HEADING.finditer(_prose(text)):
        base = slug(match[2])
        count = seen.get(base, 0)
        seen[base] = count + 1
        ids.add(base if count == 0 else f"{base}-{count}")
    return ids


def links(text: str) -> Iterator[str]:
    """The link targets of a markdown page, outside code."""
    for match in _LINK.finditer(_CODE_SPAN.sub("", _prose(text))):
        yield match[1]


def broken_links(pages: Iterable[Path], root: Path = PROJECT_ROOT) -> list[str]:
    """``page: target (why)`` for every relative link that does not resolve."""
    problems = []
    for page in sorted(pages):
        for target in links(page.read_text()):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # http:, https:, mailto: ...: not ours to check offline
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / unquote(path_part)).resolve() if path_part else page
            where = f"{page.relative_to(root)}: {target}"
            if not dest.exists():
                problems.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest.read_text()):
                problems.append(f"{where} (no heading with that anchor in {dest.name})")
    return problems


def missing_paths(pages: Iterable[Path], root: Path = PROJECT_ROOT) -> list[str]:
    """``page: path`` for every project path a page names in a code span that does not exist."""
    problems = []
    for page in sorted(pages):
        for match in _PROJECT_PATH.finditer(_HTML_COMMENT.sub("", page.read_text())):
            if not (root / match[1]).exists():
                problems.append(f"{page.relative_to(root)}: {match[1]} (no such file or folder)")
    return problems


def doc_pages(root: Path = PROJECT_ROOT) -> list[Path]:
    """The pages whose links are checked: the README, docs/ and every README under modules/."""
    return [root / "README.md", *(root / "docs").rglob("*.md"), *(root / "modules").rglob("README.md")]


def main() -> int:
    pages = doc_pages()
    problems = broken_links(pages) + missing_paths(pages)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
