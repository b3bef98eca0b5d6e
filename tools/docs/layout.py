"""The tree of the code (``docs/layout.md``), one line per file, generated from the tree itself:
each Python file by the first sentence of its docstring, each package by its ``__init__.py``'s,
a stack's README by its title, and the few other files by what their kind is. A file the
generator cannot describe is an error naming it, so the page never misses one."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from modules.core.paths import PROJECT_ROOT

ROOTS = ("main.py", "cdktf.json", "modules", "handlers", "tools", "tests")
# Files that say nothing of themselves, by name: what each kind is.
KINDS = {
    "requirements.txt": "the pinned packages the deploy installs with it",
    "requirements-build.txt": "the pinned packages of the image's build stage",
    "Dockerfile": "the model server's container image (non-root, read-only root filesystem)",
    ".dockerignore": "what the image build leaves out",
    "model.json": "the bundled model the handler scores records with",
    "wine.golden.json": "the bundled model's golden set: rows it must answer the same before the server is ready",
    "Pipfile": "checkov's own environment (its pins clash with the project's)",
    "Pipfile.lock": "its lock",
    "prices.toml": "the dated price table `make cost` reads",
    "stream_scale.scenario": "the timeline `make bench-stream-scale` runs (joins, kills, drains, a reshard)",
    "cdktf.json": "the cdktf CLI's project file (runs main.py)",
}
_WIDTH = 34  # the column the descriptions start in
_LONG = 110  # a first sentence longer than this is cut at its first clause


class UndescribedFile(ValueError):
    """A file of the tree with nothing to say about it."""


def tracked_files(root: Path = PROJECT_ROOT) -> list[str]:
    """The files of the tree under :data:`ROOTS`, as git tracks them (what a clone holds)."""
    out = subprocess.run(["git", "ls-files", *ROOTS], cwd=root, capture_output=True, text=True, check=True).stdout
    return sorted(set(out.split()))  # a file in a merge conflict is listed once per stage


def first_sentence(text: str) -> str:
    """The first sentence of ``text``, on one line: up to the first full stop outside brackets,
    or, when that is long, up to the first colon or semicolon outside brackets."""
    flat = " ".join(text.split())
    sentence = _up_to(flat, ".")
    return _up_to(sentence, ":;") if len(sentence) > _LONG else sentence


def _up_to(text: str, stops: str) -> str:
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        ends = i + 1 == len(text) or text[i + 1] == " "
        if char in stops and depth == 0 and ends and not _abbreviation(text, i):
            return text[:i]
    return text


def _abbreviation(text: str, stop: int) -> bool:
    """Whether the full stop at ``stop`` ends an abbreviation (``e.g.``, ``i.e.``), not a sentence."""
    return text[max(0, stop - 3) : stop + 1] in ("e.g.", "i.e.")


def describe(path: Path) -> str:
    """What ``path`` is, from the file itself."""
    if path.suffix == ".py":
        doc = ast.get_docstring(ast.parse(path.read_text()))
        if not doc:
            raise UndescribedFile(f"{_shown(path)}: no module docstring (say what it is)")
        return first_sentence(doc)
    if path.name == "README.md":
        title = path.read_text().splitlines()[0].lstrip("# ").strip()
        return f"{title}: what it builds, its settings, alarms, faults and diagram"
    if path.name in KINDS:
        return KINDS[path.name]
    raise UndescribedFile(f"{_shown(path)}: add what it is to KINDS in {__name__}")


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def _line(depth: int, name: str, description: str) -> str:
    head = "  " * depth + name
    return f"{head.ljust(_WIDTH - 1)} {description}" if description else head


def layout(root: Path = PROJECT_ROOT) -> str:
    """The tree, one line per folder and file, as a fenced block."""
    lines: list[str] = []
    shown: set[tuple[str, ...]] = set()
    for relative in tracked_files(root):
        parts = tuple(relative.split("/"))
        for depth in range(len(parts) - 1):
            folder = parts[: depth + 1]
            if folder not in shown:
                shown.add(folder)
                init = root.joinpath(*folder, "__init__.py")
                about = describe(init) if init.exists() and init.read_text().strip() else ""
                lines.append(_line(depth, f"{folder[-1]}/", about))
        if parts[-1] == "__init__.py":
            continue  # its folder's line says it
        lines.append(_line(len(parts) - 1, parts[-1], describe(root.joinpath(*parts))))
    return "\n".join(["```", *lines, "```"])
