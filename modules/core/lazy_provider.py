"""Import only the AWS provider bindings the app uses.

``cdktf_cdktf_provider_aws/__init__.py`` ends with ``from . import <x>`` for each of its
~2,100 submodules "to ensure their types are registered with the jsii runtime". Running
them costs ~10 s and ~550 MB before the first resource, on every synth and every test
session. :func:`install` puts a finder on ``sys.meta_path`` that loads that one
``__init__`` from its installed source with the trailing submodule imports left out;
nothing on disk is copied or changed. Afterwards:

- ``from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket`` works as always: the
  package's ``__path__`` is the installed one, so Python imports that one submodule;
- ``cdktf_cdktf_provider_aws.s3_bucket`` as an attribute imports it on first use (PEP 562);
- when the jsii kernel hands back an object whose type lives in a submodule nobody
  imported, the jsii runtime imports that submodule on demand: we give it the FQN ->
  module map (``@cdktf/provider-aws.s3Bucket`` -> ``cdktf_cdktf_provider_aws.s3_bucket``)
  that newer bindings ship themselves and these do not.

Importing the ``modules`` package calls :func:`install`, so it runs before the first
provider import of every entry point. If the package no longer ends the way this module expects,
the original ``__init__`` runs unchanged (slow but correct) with a warning. The test
``tests/test_lazy_provider.py`` synthesizes every stack both ways and requires identical
JSON, and ``make bench-synth`` measures what it saves.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

PACKAGE = "cdktf_cdktf_provider_aws"
ASSEMBLY = "@cdktf/provider-aws"
# The generated __init__ ends with this comment, then one `from . import <x>` per submodule.
MARKER = "# Loading modules to ensure their types are registered with the jsii runtime library"
_SUBMODULE_IMPORT = re.compile(r"from \. import (\w+)")


def jsii_namespace(module_name: str) -> str:
    """The jsii submodule name of a generated Python submodule: ``s3_bucket`` -> ``s3Bucket``."""
    head, *rest = module_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def split_init(source: str) -> tuple[str, list[str]] | None:
    """The ``__init__`` source without its eager submodule imports, and their names.

    ``None`` when the source does not end the expected way: after the marker, nothing but
    ``from . import <name>`` lines.
    """
    head, found, tail = source.partition(MARKER)
    if not found:
        return None
    names: list[str] = []
    for line in tail.splitlines():
        if not line.strip():
            continue
        match = _SUBMODULE_IMPORT.fullmatch(line.strip())
        if match is None:
            return None
        names.append(match.group(1))
    return head, names


class _LazyInitLoader(importlib.machinery.SourceFileLoader):
    """Executes the package ``__init__`` without its trailing submodule imports."""

    submodules: Sequence[str] = ()

    def get_code(self, fullname: str) -> CodeType | None:
        path = self.get_filename(fullname)
        source = Path(path).read_text(encoding="utf-8")
        split = split_init(source)
        if split is None:
            warnings.warn(
                f"{PACKAGE}/__init__.py does not end with the expected submodule imports; "
                "importing it eagerly (correct, but slow: see modules/core/lazy_provider.py)",
                RuntimeWarning,
                stacklevel=2,
            )
            return super().get_code(fullname)
        head, self.submodules = split
        return compile(head, path, "exec", dont_inherit=True)

    def exec_module(self, module: ModuleType) -> None:
        super().exec_module(module)
        names = frozenset(self.submodules)
        if not names:
            return

        def __getattr__(name: str) -> Any:  # PEP 562: `package.submodule` imports it on first use
            if name in names:
                return importlib.import_module(f"{PACKAGE}.{name}")
            raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")

        # The package's own last statement, publication.publish(), replaced the module in
        # sys.modules with a "public" copy; that copy is what importers get.
        sys.modules[PACKAGE].__getattr__ = __getattr__  # type: ignore[method-assign]
        _register_submodules(names)


def _register_submodules(names: frozenset[str]) -> None:
    """Tell the jsii runtime which Python module holds each jsii submodule."""
    from jsii import _reference_map

    fqn_map = getattr(_reference_map, "_submodule_fqn_map", None)
    if fqn_map is None:  # an older jsii runtime: it cannot import on demand
        warnings.warn(
            "this jsii runtime cannot import provider submodules on demand; "
            "types returned by the kernel must come from imported submodules",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    fqn_map.update({f"{ASSEMBLY}.{jsii_namespace(name)}": f"{PACKAGE}.{name}" for name in names})


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the provider package as usual, then swaps in :class:`_LazyInitLoader`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PACKAGE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not spec.origin.endswith("__init__.py"):
            return spec
        spec.loader = _LazyInitLoader(fullname, spec.origin)
        return spec


def loaded_submodules() -> set[str]:
    """The provider submodules (resources, data sources) imported in this process."""
    prefix = f"{PACKAGE}."
    names = {name.removeprefix(prefix).split(".")[0] for name in sys.modules if name.startswith(prefix)}
    return {name for name in names if not name.startswith("_")}


def installed() -> bool:
    return any(isinstance(finder, _Finder) for finder in sys.meta_path)


def install() -> None:
    """Load the provider package lazily from now on. Idempotent.

    Raises ``RuntimeError`` if the package was already imported eagerly: installing then
    would save nothing, and the caller has an import order to fix.
    """
    if installed():
        return
    if PACKAGE in sys.modules:
        raise RuntimeError(f"{PACKAGE} is already imported: call install() before the first provider import")
    sys.meta_path.insert(0, _Finder())


def uninstall() -> None:
    """Import the provider package the stock (eager) way from now on; for the benchmark's
    and the identity test's eager synths. Raises ``RuntimeError`` once it was imported lazily."""
    if PACKAGE in sys.modules and installed():
        raise RuntimeError(f"{PACKAGE} is already imported lazily")
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _Finder)]
