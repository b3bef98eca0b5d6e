"""A moto server on 127.0.0.1, started and stopped by the project's own tooling.

``with MotoServer() as moto: ...`` starts moto's server (:mod:`tools.harness.moto_fixes`)
in a child process on a free loopback port, waits until it answers, and stops it on exit,
also when the body raised.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"  # never any other address


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stop_process_group(proc: subprocess.Popen[Any], grace_s: float) -> None:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session=True``), then
    SIGKILL it if it is still running after ``grace_s`` seconds."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class MotoServer:
    """A moto server process; ``endpoint`` is its URL once started."""

    def __init__(self, log_path: Path | None = None, start_timeout_s: float = 60) -> None:
        # moto with the fixes in tools.harness.moto_fixes (bucket-policy conditions, resharding).
        self.module = "tools.harness.moto_fixes"
        self.log_path = log_path
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> MotoServer:
        env = {
            **os.environ,
            # AWS managed policies (e.g. AmazonSSMManagedInstanceCore) exist only then.
            "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        for _attempt in range(3):  # the free port can be taken between probe and bind
            self.port = free_port()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "-H", HOST, "-p", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=Path(__file__).parents[2],
            )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"moto server did not start on {HOST} (log: {self.log_path})")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/data.json", timeout=2) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, grace_s=10)
        self.proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
