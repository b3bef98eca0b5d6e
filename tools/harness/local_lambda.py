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
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modules.core.paths import PROJECT_ROOT

HANDLERS = PROJECT_ROOT / "handlers"

# Reads events (one JSON document per line) from stdin and answers each on stdout, so
# one process can serve many invocations like a warm Lambda container.
_RUNNER = """
import importlib, json, sys, time
module, _, function = sys.argv[1].rpartition(".")
fn = getattr(importlib.import_module(module), function)
for line in sys.stdin:
    event = json.loads(line)
    start = time.perf_counter()
    response = fn(event, None)
    print(json.dumps({"response": response, "seconds": time.perf_counter() - start}), flush=True)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec.
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(f"peak-rss-kib={hwm[0] if hwm else -1}", file=sys.stderr)
"""


# Invokes the handler every ``period`` seconds, as a rate schedule does, printing each
# answer with the time it was given; runs until killed.
_SCHEDULED = """
import importlib, json, sys, time
module, _, function = sys.argv[1].rpartition(".")
period = float(sys.argv[2])
fn = getattr(importlib.import_module(module), function)
while True:
    started = time.time()
    print(json.dumps({"at": started, "response": fn({"source": "aws.scheduler"}, None)}), flush=True)
    time.sleep(max(0.0, period - (time.time() - started)))
"""


class InvocationError(RuntimeError):
    """The handler raised (Lambda would retry the event) or the process died."""


@dataclass
class Invocation:
    responses: list[dict[str, Any]]
    seconds: list[float]  # inside the handler, per event (no process start-up)
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
        cwd=folder,
        env=proc_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
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
    answers = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return Invocation(
        [a["response"] for a in answers], [a["seconds"] for a in answers], rss, err.decode(errors="replace")
    )


def schedule(
    name: str, period_s: float, *, endpoint: str, region: str, env: Mapping[str, str], entry: str = "handler.handler"
) -> subprocess.Popen[bytes]:
    """Start ``handlers/<name>/<entry>`` invoked every ``period_s`` in one process (a warm
    container under a rate schedule); each answer is a JSON line on stdout. Stop it with
    ``kill()``: the state it keeps must survive that."""
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
    return subprocess.Popen(
        [sys.executable, "-c", _SCHEDULED, entry, str(period_s)],
        cwd=folder,
        env=proc_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _peak_rss_kib(stderr: str) -> int:
    for line in reversed(stderr.splitlines()):
        if line.startswith("peak-rss-kib="):
            return int(line.split("=", 1)[1])
    return -1


def s3_event(
    bucket: str, key: str, size: int, version_id: str | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """The S3 ObjectCreated notification for one object, as S3 sends it (key URL-encoded)."""
    obj: dict[str, Any] = {"key": urllib.parse.quote_plus(key, safe="/"), "size": size}
    if version_id is not None:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": obj,
                },
            }
        ]
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str = "us-east-1") -> dict[str, Any]:
    """The event Lambda's SQS poller builds from messages (as ``ReceiveMessage`` returns them)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m.get("ReceiptHandle", ""),
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }
