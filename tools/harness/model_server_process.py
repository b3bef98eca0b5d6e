"""The model server as a real process on 127.0.0.1, for tests and the benchmark.

``with ModelServerProcess(model_path, env) as server: ...`` starts
``python -m model_server`` (handlers/model_server/) on a free loopback port, waits for
``/v2/health/ready``, and stops it with SIGTERM (then SIGKILL) on exit.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from modules.core.paths import PROJECT_ROOT
from tools.harness.moto_server import HOST, free_port, stop_process_group

SERVER_DIR = PROJECT_ROOT / "handlers" / "model_server"
READY = "/v2/health/ready"


def train_default_model(path: Path, heavy: bool = False) -> Path:
    """Write the default ONNX model (what the image's build stage does) to ``path``; with
    ``heavy``, the benchmark's MLP instead."""
    args = [sys.executable, str(SERVER_DIR / "train.py"), str(path), *(["--heavy"] if heavy else [])]
    subprocess.run(args, check=True, capture_output=True)
    return path


def infer_body(rows: list[list[float]], name: str = "input") -> bytes:
    """A JSON-format infer request: one FP32 input of ``rows``."""
    flat = [float(v) for row in rows for v in row]
    shape = [len(rows), len(rows[0]) if rows else 0]
    return json.dumps({"inputs": [{"name": name, "shape": shape, "datatype": "FP32", "data": flat}]}).encode()


class ModelServerProcess:
    def __init__(
        self,
        model_uri: str,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        module: str = "model_server",
        start_timeout_s: float = 30,
    ) -> None:
        self.model_uri = model_uri
        self.env = dict(env or {})
        self.log_path = log_path
        self.module = module
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def model_name(self) -> str:
        return self.env.get("MODEL_NAME") or Path(self.model_uri.rsplit("/", 1)[-1]).stem

    def start(self) -> ModelServerProcess:
        self.port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(SERVER_DIR), str(PROJECT_ROOT)]),
            "HOST": HOST,
            "PORT": str(self.port),
            "MODEL_URI": self.model_uri,
            **self.env,
        }
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"model server exited with {self.proc.returncode} (log: {self.log_path})")
            try:
                if self.request("GET", READY)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"model server not ready within {self.start_timeout_s} s (log: {self.log_path})")

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    @property
    def infer_path(self) -> str:
        return f"/v2/models/{self.model_name}/infer"

    def infer(self, rows: list[list[float]]) -> tuple[int, Any]:
        """POST rows as the FP32 input; (status, the parsed JSON answer)."""
        status, _, body = self.request("POST", self.infer_path, infer_body(rows), {"Content-Type": "application/json"})
        return status, json.loads(body)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, grace_s=30)
        self.proc = None

    def __enter__(self) -> ModelServerProcess:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
