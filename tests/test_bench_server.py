"""The model-server benchmark's process readings (the benchmark itself is `make bench-server`)."""

from __future__ import annotations

import os
import time

from tools.bench.server import cpu_seconds, rss_mib


def test_cpu_seconds_counts_this_process_s_work_not_its_sleep() -> None:
    before = cpu_seconds(os.getpid())
    time.sleep(0.3)
    slept = cpu_seconds(os.getpid()) - before
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    worked = cpu_seconds(os.getpid()) - before - slept
    assert slept < 0.1 and 0.2 <= worked < 1.0, (slept, worked)


def test_rss_reads_current_and_peak_memory() -> None:
    now, peak = rss_mib(os.getpid())
    assert 1 < now <= peak
