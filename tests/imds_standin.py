"""A local stand-in of the EC2 instance metadata service (IMDSv2 only) on 127.0.0.1.

Answers ``PUT /latest/api/token`` with a token and ``GET /latest/meta-data/<path>`` with 401
without that token, 404 until a notice is posted with :meth:`ImdsStandIn.notice`, then the
notice's JSON: what the worker sees before and after a spot interruption or rebalance.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"


class ImdsStandIn:
    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.notices: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, bool]] = []  # method, path, had a valid token
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, code: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                has_ttl = "X-aws-ec2-metadata-token-ttl-seconds" in self.headers
                outer.requests.append(("PUT", self.path, has_ttl))
                if self.path == "/latest/api/token" and has_ttl:
                    self._send(200, outer.token)
                else:
                    self._send(400)

            def do_GET(self) -> None:
                valid = self.headers.get("X-aws-ec2-metadata-token") == outer.token
                outer.requests.append(("GET", self.path, valid))
                if not valid:
                    self._send(401)
                    return
                path = self.path.removeprefix("/latest/meta-data/")
                if path in outer.notices:
                    self._send(200, json.dumps(outer.notices[path]))
                else:
                    self._send(404)

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}"

    def notice(self, path: str, body: dict[str, Any]) -> None:
        self.notices[path] = body

    def __enter__(self) -> ImdsStandIn:
        self.thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
