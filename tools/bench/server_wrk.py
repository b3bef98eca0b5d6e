"""The model-server benchmark's load (tools.bench.server): infer request bodies, the wrk
script that POSTs them, a wrk run and what its output says."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.harness.moto_server import HOST

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    server_cores: float = 0.0  # the server's CPU seconds per second of load
    per_call: float = 0.0  # infer requests per onnxruntime call
    cpu_us: float = 0.0  # the server's CPU time per request: unlike req/s, barely moved by neighbours
    raw: float = 0.0  # the paired raw run's calls/s


def binary_body(rows: list[list[float]], name: str = "input") -> tuple[bytes, int]:
    """An infer request in the binary tensor extension (FP32 input, outputs asked in
    binary too): the body and its Inference-Header-Content-Length."""
    raw = np.asarray(rows, dtype="<f4").tobytes()
    tensor = {
        "name": name,
        "shape": [len(rows), len(rows[0])],
        "datatype": "FP32",
        "parameters": {"binary_data_size": len(raw)},
    }
    head = json.dumps({"inputs": [tensor], "parameters": {"binary_data_output": True}}).encode()
    return head + raw, len(head)


def wrk_script(body: bytes, headers: dict[str, str]) -> str:
    """A wrk Lua script POSTing ``body`` byte for byte (decimal escapes: Lua's long strings
    would turn CR bytes of a binary tensor into LF)."""
    lines = ['wrk.method = "POST"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines.append('wrk.body = "' + "".join(f"\\{b}" for b in body) + '"')
    return "\n".join(lines) + "\n"


def parse_wrk(text: str) -> Result:
    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    total = re.search(r"^\s+(\d+) requests in", text, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket_errors = sum(int(g) for g in errors.groups()) if errors else 0
    return Result(
        rps=float(rps.group(1)) if rps else 0.0,
        p50_ms=ms("50"),
        p99_ms=ms("99"),
        requests=int(total.group(1)) if total else 0,
        errors=(int(non2xx.group(1)) if non2xx else 0) + socket_errors,
    )


def wrk(port: int, path: str, script: Path, connections: int, seconds: float) -> Result:
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(script),
            f"http://{HOST}:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_wrk(out.stdout)
