"""The lazy provider import: fast, and never a different synth.

The identity test is the guarantee users need: whatever the loader does, every stack's
JSON is byte for byte what the stock (eager) import produces.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from modules.core import lazy_provider
from modules.registry import STACKS as REGISTERED
from tests.conftest import EMULATOR_ENV, PROJECT_ROOT
from tools.bench.synth import child_command, child_env

_SPEC = importlib.util.find_spec(lazy_provider.PACKAGE)
assert _SPEC is not None and _SPEC.origin is not None
PACKAGE_DIR = Path(_SPEC.origin).parent
CDKTF = PROJECT_ROOT / "node_modules" / ".bin" / "cdktf"
TOTAL_SUBMODULES = sum(1 for p in PACKAGE_DIR.iterdir() if (p / "__init__.py").is_file() and p.name != "_jsii")


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- the loader ---------------------------------------------------------------------------


def test_the_installed_package_is_split_into_its_head_and_every_submodule() -> None:
    split = lazy_provider.split_init((PACKAGE_DIR / "__init__.py").read_text())
    assert split is not None, "the generated __init__ changed shape: the loader would fall back to eager"
    head, names = split
    assert len(names) == TOTAL_SUBMODULES > 2000
    assert "from . import" not in head.split("publication.publish()")[-1]


def test_an_init_that_ends_differently_is_not_split() -> None:
    """Anything but submodule imports after the marker means "run the original"."""
    source = f"x = 1\n{lazy_provider.MARKER}\nfrom . import a\nimport os\n"
    assert lazy_provider.split_init(source) is None
    assert lazy_provider.split_init("x = 1\nfrom . import a\n") is None


def test_every_submodule_maps_to_its_jsii_namespace() -> None:
    """The jsii runtime imports a submodule on demand by this map: one wrong name is a crash later."""
    pattern = re.compile(r'jsii_type="@cdktf/provider-aws\.(\w+)\.')
    wrong = {}
    for sub in PACKAGE_DIR.iterdir():
        if sub.name == "_jsii" or not (sub / "__init__.py").is_file():
            continue
        with (sub / "__init__.py").open() as f:
            namespace = next(m.group(1) for line in f if (m := pattern.search(line)))
        if lazy_provider.jsii_namespace(sub.name) != namespace:
            wrong[sub.name] = namespace
    assert wrong == {}


def test_the_session_loads_only_the_submodules_the_app_uses(stacks: Mapping[str, object]) -> None:
    assert lazy_provider.installed()
    loaded = lazy_provider.loaded_submodules()
    assert "provider" in loaded
    assert len(loaded) < TOTAL_SUBMODULES // 10, f"{len(loaded)} of {TOTAL_SUBMODULES} submodules loaded"


def test_a_submodule_attribute_is_imported_on_first_use() -> None:
    import cdktf_cdktf_provider_aws as aws

    submodule = "xray_sampling_rule"  # by name: type checkers see the package without its submodules
    assert getattr(aws, submodule).XraySamplingRule.__name__ == "XraySamplingRule"
    missing = "not_a_resource"
    with pytest.raises(AttributeError, match=f"no attribute '{missing}'"):
        getattr(aws, missing)


def test_the_jsii_runtime_imports_an_unloaded_submodule_when_the_kernel_names_its_type() -> None:
    from jsii import _reference_map

    assert f"{lazy_provider.PACKAGE}.xray_group" not in sys.modules
    assert _reference_map._try_import_type_module("@cdktf/provider-aws.xrayGroup.XrayGroup")
    assert "@cdktf/provider-aws.xrayGroup.XrayGroup" in _reference_map._types


@pytest.mark.slow
def test_importing_the_modules_package_is_enough_for_a_lazy_provider(tmp_path: Path) -> None:
    """No entry point has to remember to install it: ``import modules`` does."""
    probe = (
        "import modules.config, cdktf_cdktf_provider_aws.s3_bucket\n"
        "from modules.core import lazy_provider\n"
        "print(lazy_provider.installed(), len(lazy_provider.loaded_submodules()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    installed, loaded = proc.stdout.split()
    assert installed == "True" and int(loaded) < 5, proc.stdout


def test_installing_after_an_eager_import_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, lazy_provider._Finder)])
    assert lazy_provider.PACKAGE in sys.modules
    with pytest.raises(RuntimeError, match="already imported"):
        lazy_provider.install()


# --- identity with the stock import -------------------------------------------------------


@pytest.mark.slow
@pytest.mark.minutes  # two eager synths and the CLI: minutes of CPU, started first
def test_every_stack_synthesizes_byte_identical_with_the_stock_import_and_through_the_cdktf_cli(
    tmp_path: Path, synth_dir: Path, emulator_synth_dir: Path
) -> None:
    """Eager synths run in subprocesses (this process is lazy); both settings variants at once.
    The default one runs under the pinned cdktf CLI (`cdktf synth`, as a user runs it), so the
    same comparison also proves that the CLI's synth writes what the app writes in process:
    one full synth serves both claims (each costs a minute of CPU)."""
    if not CDKTF.exists():
        pytest.fail("node_modules/.bin/cdktf missing: run `make setup`")
    variants = {"aws": ({}, synth_dir), "emulator": (EMULATOR_ENV, emulator_synth_dir)}
    procs = {}
    for name, (env, _) in variants.items():
        out = tmp_path / name / "cdktf.out"
        report = tmp_path / f"{name}.json"
        cmd = [*child_command("eager", out), "--report", str(report)]
        if name == "aws":
            cmd = [str(CDKTF), "synth", "--app", shlex.join(cmd), "--output", str(out)]
        child = child_env(env) | {"CHECKPOINT_DISABLE": "1"}
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs[name] = (proc, out, report)
    for name, (proc, out, report) in procs.items():
        stdout, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, stdout.decode()[-3000:] + err.decode()[-3000:]
        assert json.loads(report.read_text())["provider_submodules_loaded"] == TOTAL_SUBMODULES, "not an eager import"
        eager, fast = _tree(out), _tree(variants[name][1])
        defaults = [entry.name for entry in REGISTERED if not entry.on_demand]  # on demand: not with the defaults
        assert {f"stacks/{s}/cdk.tf.json" for s in defaults} <= eager.keys()
        assert eager.keys() == fast.keys()
        differing = sorted(path for path in eager if eager[path] != fast[path])
        assert differing == [], f"{name}: lazy import changed {differing}"
