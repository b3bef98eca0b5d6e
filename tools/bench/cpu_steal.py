"""CPU time the hypervisor gave to other guests ("steal"), for the benchmarks' reports.

These machines are shared VMs: when the host is busy, a benchmark's two sides can be
slowed unevenly from one second to the next, whatever the benchmark does. The benchmarks
print the steal share of their run beside the result, so a reader can tell a measurement
from a noisy neighbour.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STAT = Path("/proc/stat")
# Above this share of stolen CPU time, ratios between two servers swing by 2x from round
# to round on these machines (measured with `make bench-server`).
NOISY_STEAL = 0.05


@dataclass(frozen=True)
class CpuTimes:
    total: int
    steal: int
    idle: int = 0  # idle + iowait

    @classmethod
    def now(cls, stat: Path = STAT) -> CpuTimes:
        """The aggregate ``cpu`` line of /proc/stat (user nice system idle iowait irq
        softirq steal ...), in clock ticks; zeros where /proc is not there."""
        try:
            fields = stat.read_text().splitlines()[0].split()
        except OSError:
            return cls(0, 0)
        ticks = [int(v) for v in fields[1:9]]
        return cls(sum(ticks), ticks[7], ticks[3] + ticks[4])

    def steal_share_since(self, before: CpuTimes) -> float:
        """Stolen share of all CPU time between ``before`` and this sample (0 if none passed)."""
        total = self.total - before.total
        return (self.steal - before.steal) / total if total > 0 else 0.0


def others_share(before: CpuTimes, after: CpuTimes, own_seconds: float) -> float:
    """Share of all CPU time between the samples that processes other than the benchmark's
    used (``own_seconds``: the CPU time of the benchmark's own processes). Steal only counts
    other guests; on a VM shared by several workers the contention is inside the VM."""
    total = after.total - before.total
    if total <= 0:
        return 0.0
    busy = total - (after.idle - before.idle) - (after.steal - before.steal)
    return max(0.0, busy - own_seconds * os.sysconf("SC_CLK_TCK")) / total


def steal_report(before: CpuTimes, after: CpuTimes) -> str:
    share = after.steal_share_since(before)
    verdict = "noisy host: repeat the run" if share > NOISY_STEAL else "quiet host"
    return f"CPU steal during the run: {share:.1%} ({verdict}; above {NOISY_STEAL:.0%} the ratios are not reliable)"
