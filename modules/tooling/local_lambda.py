"""Run a Lambda handler from ``handlers/<name>/`` as a real local process.

moto stores Lambda functions but runs no code, so handler tests and benchmarks invoke
the packaged folder the way the Lambda runtime does: a fresh Python process with the
folder on ``sys.path``, the function's environment, AWS calls sent to the emulator
(``AWS_ENDPOINT_URL``), the event on stdin and the response as JSON on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modules.settings import PROJECT_ROOT

HANDLERS = PROJECT_ROOT / "handlers"

# Reads events (one JSON document per line) from stdin and answers each on stdout, so
# one process can serve many invocations like a warm Lambda container.
_RUNNER = """
import importlib, json, sys
module, _, function = sys.argv[1].rpartition(".")
fn = getattr(importlib.import_module(module), function)
for line in sys.stdin:
    print(json.dumps(fn(json.loads(line), None)), flush=True)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec.
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(f"peak-rss-kib={hwm[0] if hwm else -1}", file=sys.stderr)
"""


class InvocationError(RuntimeError):
    """The handler raised (Lambda would retry the event) or the process died."""


@dataclass
class Invocation:
    responses: list[dict[str, Any]]
    max_rss_kib: int  # peak resident set size of the handler process
    stderr: str


def invoke(
    name: str,
    events: list[dict[str, Any]],
    *,
    endpoint: str,
    region: str,
    env: Mapping[str, str],
    entry: str = "handler.handler",
    timeout_s: float = 600,
) -> Invocation:
    """Invoke ``handlers/<name>/<entry>`` on each of ``events`` in one process.

    ``env`` is the function's environment plus the emulator's credentials; nothing else
    of this process's environment leaks in.
    """
    folder = HANDLERS / name
    proc_env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(folder),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _RUNNER, entry],
        cwd=folder, env=proc_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    stdin = "".join(json.dumps(e) + "\n" for e in events)
    try:
        out, err = proc.communicate(stdin.encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    rss = _peak_rss_kib(err.decode(errors="replace"))
    if proc.returncode != 0:
        raise InvocationError(f"handler {name} exited {proc.returncode}:\n{err.decode(errors='replace')[-4000:]}")
    responses = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return Invocation(responses, rss, err.decode(errors="replace"))


def _peak_rss_kib(stderr: str) -> int:
    for line in reversed(stderr.splitlines()):
        if line.startswith("peak-rss-kib="):
            return int(line.split("=", 1)[1])
    return -1
