"""mypy over the project, with the provider package as the project uses it.

``python -m tools.lint.mypy [mypy arguments]`` (``make lint``, tests/test_lint.py) runs mypy
with the configuration of ``pyproject.toml``, plus one thing: the AWS provider package is
seen through a folder on ``MYPYPATH`` that holds its ``__init__`` without the trailing
``from . import <submodule>`` lines (the split :mod:`modules.core.lazy_provider` makes at
run time) and links to the real submodules. mypy then analyses the ~80 submodules the
project imports, not all ~2,100: on a fresh cache 16 s of CPU and 0.85 GB instead of 73 s
and 3.6 GB, with the same types for everything the project uses (the submodules are the
package's own files).

The folder is rebuilt when the installed package changes. If the package no longer ends the
expected way, mypy runs on the package as installed (slower, same result).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from modules.core.lazy_provider import PACKAGE, split_init
from modules.core.paths import PROJECT_ROOT

VIEWS = PROJECT_ROOT / ".cache" / "mypy-provider"


def installed_package() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{PACKAGE} is not installed: run `make setup`")
    return Path(spec.origin).parent


def provider_view(package: Path, views: Path = VIEWS) -> Path | None:
    """The folder to put on MYPYPATH (it holds ``<PACKAGE>/``), built once per installed
    package; None when the package's ``__init__`` cannot be split."""
    init = (package / "__init__.py").read_bytes()
    split = split_init(init.decode("utf-8"))
    if split is None:
        return None
    head, names = split
    view = views / hashlib.sha256(init).hexdigest()[:16]
    if (view / PACKAGE / "__init__.py").is_file():
        return view
    views.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=views, prefix=".building-"))
    try:
        target = staging / PACKAGE
        target.mkdir()
        for name in [*names, "_jsii"]:
            (target / name).symlink_to(package / name, target_is_directory=True)
        shutil.copyfile(package / "py.typed", target / "py.typed")
        (target / "__init__.py").write_text(head, encoding="utf-8")
        try:
            staging.rename(view)
        except OSError:  # another run built it first
            if not (view / PACKAGE / "__init__.py").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return view


def main(argv: Sequence[str]) -> int:
    env = dict(os.environ)
    view = provider_view(installed_package())
    if view is None:
        print(f"{PACKAGE}/__init__.py changed shape: type-checking against all of it (slower)", file=sys.stderr)
    else:
        env["MYPYPATH"] = os.pathsep.join(p for p in (str(view), env.get("MYPYPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "mypy", *argv], cwd=PROJECT_ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
