"""The code stays ruff- and mypy-clean and keeps its layers (all configured in pyproject.toml)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modules.core.lazy_provider import PACKAGE
from tests.conftest import PROJECT_ROOT
from tools.lint.mypy import installed_package, provider_view

BIN = Path(sys.executable).parent


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "ruff"), "format", "--check", "."],
        [sys.executable, "-m", "tools.lint.mypy"],  # as `make lint` runs it
        [str(BIN / "lint-imports")],
    ],
    ids=["ruff-check", "ruff-format", "mypy", "import-layers"],
)
def test_clean(command: list[str]) -> None:
    proc = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_a_block_that_reads_settings_breaks_the_layer_contracts(tmp_path: Path) -> None:
    """The contracts can fail: a copy of the tree with one planted upward import is refused."""
    for package in ("modules", "tools"):
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    planted = tmp_path / "modules" / "blocks" / "queue.py"
    planted.write_text(planted.read_text() + "\nfrom modules.config import settings  # noqa: E402,F401\n")
    proc = subprocess.run([str(BIN / "lint-imports")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "modules.blocks.queue -> modules.config" in proc.stdout, proc.stdout[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("planted", "refused"),
    [
        # a new stack's folder, listed nowhere in pyproject.toml, is a member of the independence contract
        ("stack.py", "modules.architectures.new_stack.stack -> modules.architectures.state.stack"),
        # a new stack's settings import no construct (the settings root imports them)
        ("settings.py", "modules.architectures.new_stack.settings -> modules.architectures.new_stack.stack"),
    ],
)
def test_a_new_stack_folder_is_under_the_contracts_without_an_edit(tmp_path: Path, planted: str, refused: str) -> None:
    for package in ("modules", "tools"):
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    folder = tmp_path / "modules" / "architectures" / "new_stack"
    folder.mkdir()
    (folder / "__init__.py").write_text('"""A stack planted by a test."""\n')
    (folder / "stack.py").write_text("from modules.architectures.state.stack import StateStack  # noqa: F401\n")
    if planted == "settings.py":
        (folder / "stack.py").write_text("import cdktf  # noqa: F401\n")
        (folder / "settings.py").write_text("from modules.architectures.new_stack import stack  # noqa: F401\n")
    proc = subprocess.run([str(BIN / "lint-imports")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert refused in " ".join(proc.stdout.split()), proc.stdout[-3000:]


LINE_LIMIT = 400
CODE_FOLDERS = ("modules", "handlers", "tools")


def code_files() -> list[Path]:
    """The Python files of the code folders, each of which holds some."""
    by_folder = {folder: sorted((PROJECT_ROOT / folder).rglob("*.py")) for folder in CODE_FOLDERS}
    assert all(by_folder.values()), f"no Python file in {[f for f, files in by_folder.items() if not files]}"
    return [path for files in by_folder.values() for path in files]


def test_no_code_file_is_over_the_size_a_reader_can_hold() -> None:
    """A file over this does more than one thing: split it by idea, never squeeze it."""
    long = [
        f"{path.relative_to(PROJECT_ROOT)}: {n} lines"
        for path in code_files()
        if (n := len(path.read_text().splitlines())) > LINE_LIMIT
    ]
    assert not long, f"over {LINE_LIMIT} lines, split by idea:\n" + "\n".join(long)


def test_the_formatter_lays_out_every_line_of_code() -> None:
    """No `# fmt: skip` nor `# fmt: off`: the formatter's layout is the code's."""
    pattern = re.compile(r"#\s*fmt:\s*(skip|off)\b")
    kept = [
        f"{path.relative_to(PROJECT_ROOT)}:{i}: {line.strip()}"
        for path in code_files()
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not kept, "let the formatter lay these out:\n" + "\n".join(kept)


def test_mypy_sees_the_provider_package_without_its_eager_submodule_imports(tmp_path: Path) -> None:
    """The view mypy type-checks against: the package head with no `from . import` of all
    ~2,100 submodules (what made mypy analyse every one), every submodule still reachable as
    the installed file, built once per installed package."""
    package = installed_package()
    view = provider_view(package, tmp_path)
    assert view is not None, "the installed provider package no longer splits: mypy falls back to all of it"
    init = (view / PACKAGE / "__init__.py").read_text()
    assert "from . import acm_certificate\n" not in init
    assert init == (package / "__init__.py").read_text().partition("# Loading modules to ensure")[0]
    assert (view / PACKAGE / "py.typed").is_file()
    linked = view / PACKAGE / "lb" / "__init__.py"
    assert linked.resolve() == (package / "lb" / "__init__.py").resolve()
    assert provider_view(package, tmp_path) == view, "built once, then reused"
    assert [p.name for p in tmp_path.iterdir()] == [view.name], "no staging folder left behind"
