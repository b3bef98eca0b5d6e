"""Synth benchmark: the jsii floor vs the whole app imported eagerly vs lazily.

``python -m tools.bench.synth [--runs N]`` (``make bench-synth``) runs, in one
session and interleaved so that machine noise hits every mode alike, N fresh processes
of each mode:

- ``floor``: start jsii, load the cdktf and AWS provider assemblies, synthesize an empty
  app: what any synth pays, whatever the stacks;
- ``eager``: the whole app with the provider package imported the stock way;
- ``fast``: the whole app after :func:`modules.core.lazy_provider.install`.

It prints per mode the median, min and max wall time and the peak resident memory of the
process tree (Python plus the jsii node process, sampled from /proc), then the ratios
``fast/floor`` and ``fast/eager`` against their targets, and exits 1 when one is missed.

``python -m tools.bench.synth child <mode> <outdir>`` is one such process; the
identity test (tests/test_lazy_provider.py) uses it for the eager synth. Settings come
from the RAI_ variables in its environment only (no settings file), so that the parent
decides exactly what is synthesized.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modules.core.paths import PROJECT_ROOT
from tools.bench.cpu_steal import CpuTimes, steal_report

MODES = ("floor", "eager", "fast")
TARGET_FAST_OVER_FLOOR = 1.5
TARGET_FAST_OVER_EAGER = 0.35
TARGET_PEAK_RSS_MIB = 700.0


def child_command(mode: str, outdir: Path) -> list[str]:
    """The command line of one benchmark process (run it from the project root)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    return [sys.executable, "-m", "tools.bench.synth", "child", mode, str(outdir)]


def child_env(settings_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a benchmark process: this one without RAI_ variables, plus ``settings_env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAI_")}
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    env.update(settings_env or {})
    return env


def run_child(mode: str, outdir: Path) -> dict[str, int]:
    """Body of a benchmark process. Returns what it loaded, for the parent to check."""
    from modules.core import lazy_provider

    if mode == "eager":
        lazy_provider.uninstall()  # importing `modules` installed it
    if mode == "floor":
        import cdktf
        import cdktf_cdktf_provider_aws  # noqa: F401  (loads the provider assembly into jsii)

        cdktf.App(outdir=str(outdir)).synth()
    else:
        from modules.app import synth
        from modules.config import load_settings

        env = {k: v for k, v in os.environ.items() if k.startswith("RAI_")}
        synth(load_settings(environ=env, settings_file=None), outdir)
    return {"provider_submodules_loaded": len(lazy_provider.loaded_submodules())}


@dataclass(frozen=True)
class Sample:
    mode: str
    wall_s: float
    peak_rss_mib: float
    provider_submodules_loaded: int


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(mode: str, env: Mapping[str, str], poll_s: float = 0.05) -> Sample:
    """One fresh process of ``mode``: wall time and peak tree RSS."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{mode}-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [*child_command(mode, Path(tmp) / "cdktf.out"), "--report", str(report)]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=dict(env), stdout=subprocess.DEVNULL)
        peak_kib = 0
        while proc.poll() is None:
            peak_kib = max(peak_kib, _tree_rss_kib(proc.pid))
            time.sleep(poll_s)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{mode} run failed with exit code {proc.returncode}: {' '.join(cmd)}")
        loaded = json.loads(report.read_text())["provider_submodules_loaded"]
    return Sample(mode, wall, peak_kib / 1024, loaded)


def _row(mode: str, samples: Sequence[Sample]) -> str:
    walls = [s.wall_s for s in samples]
    return (
        f"{mode:<6} {statistics.median(walls):>8.2f} {min(walls):>7.2f} {max(walls):>7.2f} "
        f"{max(s.peak_rss_mib for s in samples):>14.0f} {samples[0].provider_submodules_loaded:>10}"
    )


def benchmark(runs: int, out: Sequence[str] = MODES) -> int:
    env = child_env()
    samples: dict[str, list[Sample]] = {mode: [] for mode in out}
    cpu_before = CpuTimes.now()
    for i in range(runs):
        for mode in out:
            sample = measure(mode, env)
            samples[mode].append(sample)
            print(f"run {i + 1}/{runs} {mode:<5} {sample.wall_s:6.2f} s {sample.peak_rss_mib:6.0f} MiB", flush=True)
    cpu_after = CpuTimes.now()
    print(f"\nwhole-app synth, {runs} fresh processes per mode (wall s; peak RSS of python + node)")
    print(f"{'mode':<6} {'median':>8} {'min':>7} {'max':>7} {'peak RSS MiB':>14} {'submodules':>10}")
    for mode in out:
        print(_row(mode, samples[mode]))
    median = {mode: statistics.median(s.wall_s for s in samples[mode]) for mode in out}
    fast_rss = max(s.peak_rss_mib for s in samples["fast"])
    checks = [
        ("fast/floor", median["fast"] / median["floor"], TARGET_FAST_OVER_FLOOR, ""),
        ("fast/eager", median["fast"] / median["eager"], TARGET_FAST_OVER_EAGER, ""),
        ("fast peak RSS", fast_rss, TARGET_PEAK_RSS_MIB, " MiB"),
    ]
    print()
    failed = 0
    for name, value, target, unit in checks:
        ok = value <= target
        failed += not ok
        print(f"{name:<14} {value:8.2f}{unit}  target <= {target}{unit}  {'ok' if ok else 'MISSED'}")
    print(steal_report(cpu_before, cpu_after))
    return 1 if failed else 0


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.synth", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("child", help="one benchmark process")
    child.add_argument("mode", choices=MODES)
    child.add_argument("outdir", type=Path)
    child.add_argument("--report", type=Path, help="write what was loaded here, as JSON")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per mode (default 5)")
    args = parser.parse_args(argv)
    if args.command == "child":
        report = run_child(args.mode, args.outdir)
        if args.report:
            args.report.write_text(json.dumps(report))
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return benchmark(args.runs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
