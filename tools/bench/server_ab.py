"""One client, two versions of the server, interleaved: is a change's latency within a tenth
of a millisecond of the version before it (not a test)?

    git archive <commit> | tar -x -C /tmp/before      # the version to compare with
    .venv/bin/python -m tools.bench.server_ab /tmp/before [ROUNDS]

Both servers serve the default (wine) model with EMF on (a document every second); each
round measures one 2-s ``wrk`` run at one client against each, in alternating order, so
a noisy neighbour slows both sides of a round alike. Reported: each side's median p50 and
CPU time per request, the median of the rounds' p50 differences (this one minus before) and
of their CPU ratios. ``make bench-server`` measures both at every concurrency on one version;
this compares two versions at the point where a few microseconds show.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from modules.core.paths import PROJECT_ROOT
from tools.bench.server_measure import ROW, ROWS_PER_CALL, measure
from tools.bench.server_wrk import wrk, wrk_script
from tools.harness.model_server_process import ModelServerProcess, infer_body, train_default_model

EMF_ON = {"EMF_NAMESPACE": "Bench/ModelServer", "EMF_INTERVAL_S": "1", "LOG_LEVEL": "WARNING"}
SECONDS = 2


def compare(before: Path, rounds: int) -> list[str]:
    """The report's lines."""
    roots = {"before": before, "this": PROJECT_ROOT}
    p50: dict[str, list[float]] = {side: [] for side in roots}
    cpu: dict[str, list[float]] = {side: [] for side in roots}
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        model = train_default_model(Path(tmp) / "wine.onnx")
        script = Path(tmp) / "json.lua"
        script.write_text(wrk_script(infer_body([ROW] * ROWS_PER_CALL), {"Content-Type": "application/json"}))
        servers = {}
        try:
            for side, root in roots.items():
                env = {**EMF_ON, "PYTHONPATH": f"{root / 'handlers' / 'model_server'}:{root}"}
                servers[side] = ModelServerProcess(str(model), env, Path(tmp) / f"{side}.log").start()
                wrk(servers[side].port, servers[side].infer_path, script, 1, 1)  # warm-up
            for r in range(rounds):
                for side in list(roots)[:: 1 if r % 2 == 0 else -1]:
                    result = measure(servers[side], script, 1, SECONDS)
                    p50[side].append(result.p50_ms)
                    cpu[side].append(result.cpu_us)
        finally:
            for server in servers.values():
                server.stop()
    lines = [
        f"{side}: p50 {statistics.median(p50[side]):.3f} ms ({min(p50[side]):.3f}-{max(p50[side]):.3f}), "
        f"CPU {statistics.median(cpu[side]):.0f} us/req"
        for side in roots
    ]
    diffs = [b - a for a, b in zip(p50["before"], p50["this"], strict=True)]
    ratios = [b / a for a, b in zip(cpu["before"], cpu["this"], strict=True) if a]
    lines.append(
        f"p50 this - before, paired: {statistics.median(diffs):+.3f} ms ({min(diffs):+.3f} to {max(diffs):+.3f})"
    )
    lines.append(f"CPU per request this / before, paired: {statistics.median(ratios):.3f}")
    return lines


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2 or not (Path(argv[1]) / "handlers" / "model_server").is_dir():
        print(f"usage: {argv[0]} BEFORE_CHECKOUT [ROUNDS]: a folder holding handlers/model_server", file=sys.stderr)
        return 2
    rounds = int(argv[2]) if len(argv) > 2 and argv[2].isdigit() else 10
    for line in compare(Path(argv[1]), max(1, rounds)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
