"""The server's configuration, read once from the environment at start."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODEL_PATH = str(Path(__file__).resolve().parent / "wine.onnx")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class ConfigError(ValueError):
    """Bad server configuration; the message names every bad variable."""


@dataclass(frozen=True, kw_only=True)
class Config:
    host: str = "0.0.0.0"
    port: int = 8080
    model_uri: str = DEFAULT_MODEL_PATH
    model_name: str = ""  # empty: the model file's stem (wine.onnx -> wine)
    model_version: str = "1"
    model_sha256: str = ""  # when set, a model with other bytes stops the process at start
    max_in_flight: int = 32
    max_batch_rows: int = 1000  # rows one request may carry
    max_batch_size: int = 256  # rows one stacked onnxruntime call may carry; 0 = no dynamic batching
    max_batch_delay_ms: float = 0.0  # wait this long after the first request for more (0: take what waits)
    infer_threads: int = 1  # onnxruntime calls at once (each single-threaded)
    max_body_bytes: int = 1024 * 1024
    retry_after_s: int = 1
    drain_delay_s: float = 2.0  # readiness is already false; lets a load balancer notice
    drain_timeout_s: float = 25.0  # below ECS's 30 s stop timeout: we exit before SIGKILL
    socket_timeout_s: float = 15.0  # a request body not received in this time gets 408
    # An idle keep-alive connection is closed after this. Behind a load balancer it must
    # outlast the balancer's idle timeout (ALB: 60 s by default): a balancer that reuses a
    # connection the server has just closed answers its client 502.
    keep_alive_s: int = 75
    # Public exposure: every route but the probes needs a bearer JWT of this issuer/audience,
    # signed by a key of the JWKS at jwks_url (read once at start). All three or none.
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwks_url: str = ""

    @property
    def auth_required(self) -> bool:
        return bool(self.jwt_issuer)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Config:
        """Every bad variable is named in one ConfigError."""
        kwargs: dict[str, Any] = {}
        problems: list[str] = []
        fields: dict[str, tuple[str, Callable[[str], Any], Callable[[Any], bool]]] = {
            "HOST": ("host", str, bool),
            "PORT": ("port", int, lambda v: 1 <= v <= 65535),
            "MODEL_URI": ("model_uri", str, bool),
            "MODEL_NAME": ("model_name", str, lambda v: bool(re.fullmatch(r"[A-Za-z0-9_.-]+", v))),
            "MODEL_VERSION": ("model_version", str, lambda v: bool(re.fullmatch(r"[A-Za-z0-9_.-]+", v))),
            "MODEL_SHA256": ("model_sha256", str, lambda v: bool(_SHA256.fullmatch(v))),
            "MAX_IN_FLIGHT": ("max_in_flight", int, lambda v: v >= 1),
            "MAX_BATCH_ROWS": ("max_batch_rows", int, lambda v: v >= 1),
            "MAX_BATCH_SIZE": ("max_batch_size", int, lambda v: v >= 0),
            "MAX_BATCH_DELAY_MS": ("max_batch_delay_ms", float, lambda v: 0 <= v <= 1000),
            "INFER_THREADS": ("infer_threads", int, lambda v: 1 <= v <= 64),
            "MAX_BODY_BYTES": ("max_body_bytes", int, lambda v: v >= 64),
            "RETRY_AFTER_S": ("retry_after_s", int, lambda v: v >= 1),
            "DRAIN_DELAY_S": ("drain_delay_s", float, lambda v: v >= 0),
            "DRAIN_TIMEOUT_S": ("drain_timeout_s", float, lambda v: v > 0),
            "SOCKET_TIMEOUT_S": ("socket_timeout_s", float, lambda v: v > 0),
            "KEEP_ALIVE_S": ("keep_alive_s", int, lambda v: 1 <= v <= 4000),
        }
        for var, (name, parse, ok) in fields.items():
            raw = environ.get(var)
            if raw is None or raw == "":
                continue
            try:
                value = parse(raw)
            except ValueError:
                value = None
            if value is None or not ok(value):
                problems.append(f"{var}={raw!r}: expected {parse.__name__}, got an invalid value")
                continue
            kwargs[name] = value
        problems += _jwt_settings(environ, kwargs)
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(**kwargs)


# JWT authentication: variable -> (field, check, what is expected)
_JWT: dict[str, tuple[str, Callable[[str], bool], str]] = {
    "JWT_ISSUER": ("jwt_issuer", lambda v: v.startswith("https://"), "the tokens' issuer (iss), an https:// URL"),
    "JWT_AUDIENCE": ("jwt_audience", lambda v: v == v.strip(), "the tokens' audience (aud), without spaces around"),
    # https, or a loopback sidecar (a local key cache, the tests' stand-in issuer)
    "JWKS_URL": (
        "jwks_url",
        lambda v: v.startswith(("https://", "http://127.0.0.1:")),
        "the issuer's JWKS, an https:// URL (or http://127.0.0.1:<port>/...)",
    ),
}


def _jwt_settings(environ: Mapping[str, str], kwargs: dict[str, Any]) -> list[str]:
    """JWT_ISSUER, JWT_AUDIENCE and JWKS_URL: all three (authentication on) or none."""
    given = {var: environ[var] for var in _JWT if environ.get(var)}
    if not given:
        return []
    missing = [var for var in _JWT if var not in given]
    if missing:
        return [
            "JWT_ISSUER, JWT_AUDIENCE and JWKS_URL: set all three (bearer-token authentication) or none; "
            f"{', '.join(missing)} missing"
        ]
    problems = []
    for var, raw in given.items():
        name, ok, expected = _JWT[var]
        if ok(raw):
            kwargs[name] = raw
        else:
            problems.append(f"{var}={raw!r}: expected {expected}")
    return problems
