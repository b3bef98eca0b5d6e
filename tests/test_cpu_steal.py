"""The benchmarks' steal report: the share of CPU time the hypervisor gave elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

from tools.bench.cpu_steal import CpuTimes, others_share, steal_report


def stat(tmp_path: Path, name: str, user: int, idle: int, steal: int) -> Path:
    path = tmp_path / name
    # user nice system idle iowait irq softirq steal guest guest_nice
    path.write_text(f"cpu  {user} 0 10 {idle} 0 0 0 {steal} 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\n")
    return path


def test_steal_share_is_stolen_ticks_over_all_ticks_of_the_interval(tmp_path: Path) -> None:
    before = CpuTimes.now(stat(tmp_path, "a", user=100, idle=100, steal=10))
    after = CpuTimes.now(stat(tmp_path, "b", user=160, idle=120, steal=30))  # +60 +20 +20 = 100 ticks
    assert after.steal_share_since(before) == 0.2
    assert "20.0%" in steal_report(before, after) and "noisy host" in steal_report(before, after)


def test_a_quiet_interval_and_a_missing_proc_are_reported_without_error(tmp_path: Path) -> None:
    before = CpuTimes.now(stat(tmp_path, "a", user=100, idle=100, steal=10))
    after = CpuTimes.now(stat(tmp_path, "b", user=150, idle=149, steal=11))
    assert "quiet host" in steal_report(before, after)
    missing = CpuTimes.now(tmp_path / "absent")
    assert missing == CpuTimes(0, 0) and missing.steal_share_since(missing) == 0.0


def test_others_share_is_busy_time_not_spent_by_the_benchmark(tmp_path: Path) -> None:
    before = CpuTimes.now(stat(tmp_path, "a", user=100, idle=100, steal=10))
    after = CpuTimes.now(stat(tmp_path, "b", user=160, idle=120, steal=30))  # 60 busy of 100 ticks, 20 stolen
    own = 20 / os.sysconf("SC_CLK_TCK")  # the benchmark used 20 of the 60 busy ticks
    assert after.idle - before.idle == 20
    assert others_share(before, after, own) == 0.4
    assert others_share(before, after, 10 * own) == 0.0 and others_share(after, after, 0) == 0.0
