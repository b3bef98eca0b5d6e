"""The model server as a real process on 127.0.0.1, for tests and the benchmark.

``with ModelServerProcess(model_path, env) as server: ...`` starts
``python -m model_server`` (handlers/model_server/) on a free loopback port, waits for
``/ready``, and stops it with SIGTERM (then SIGKILL) on exit.
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


def train_default_model(path: Path) -> Path:
    """Write the default model (what the image's build stage does) to ``path``."""
    subprocess.run([sys.executable, str(SERVER_DIR / "train.py"), str(path)], check=True, capture_output=True)
    return path


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
                if self.request("GET", "/ready")[0] == 200:
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

    def predict(self, instances: Any) -> tuple[int, Any]:
        status, _, body = self.request(
            "POST", "/predict", json.dumps({"instances": instances}).encode(), {"Content-Type": "application/json"}
        )
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
