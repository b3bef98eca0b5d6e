"""The server's configuration, read once from the environment at start."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MODEL_PATH = str(Path(__file__).resolve().parent / "wine.onnx")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# Model name and version, the Service dimension: a path segment and a CloudWatch dimension value
# (1-1024 printable ASCII characters, not blank), so the stricter of the two
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,1024}")
NAME_RULE = "1-1024 of letters, digits, _ . - (a URL path segment and a CloudWatch dimension value)"
# CloudWatch's namespace characters; AWS/ is reserved for AWS's own, a leading ':' and a blank
# namespace are refused by CloudWatch (the whole document is dropped)
_NAMESPACE = re.compile(r"(?!AWS/)(?!:)(?=.*[^ ])[A-Za-z0-9 _./#:-]{1,255}")
# The CloudWatch agent's EMF listener (25888 when no port is given)
EMF_SOCKET = re.compile(r"(tcp|udp)://([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?")
EMF_AGENT_PORT = 25888


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
    max_batch_size: int = 128  # rows one stacked onnxruntime call may carry; 0 = no dynamic batching
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
    # CloudWatch Embedded Metric Format (model_server.emf): one document per interval.
    emf_namespace: str = ""  # empty: no EMF (a local run prints nothing extra)
    emf_interval_s: int = 10
    emf_service: str = "model-server"  # the Service dimension, the one alarms use
    emf_sink: str = "stdout"  # or tcp://host:port / udp://host:port (the CloudWatch agent)
    emf_distribution: str = "values_counts"  # or "values": plain arrays, for an account refusing Values/Counts
    # What the model predicts, in the EMF documents (model_server.predictions)
    prediction_metrics: str = "on"  # or "off"
    prediction_kind: str = "auto"  # or "classifier" / "regressor"; auto: from the model's outputs
    prediction_classes_max: int = 16  # distinct Class values per model; the rest are counted as _other
    # The golden set (model_server.golden): run at start, the server is not ready unless it passes
    golden_uri: str = ""  # empty: <model stem>.golden.json beside the model
    golden_sha256: str = ""  # when set, a golden set with other bytes stops the process at start
    golden_required: bool = False  # true: no golden set (none beside the model) stops the process at start

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
        typed = {
            var: (name, parse, ok, f"{parse.__name__}, got an invalid value")
            for var, (name, parse, ok) in fields.items()
        }
        problems += _read(environ, {**typed, **_EMF, **_CHOICES}, kwargs)
        problems += _jwt_settings(environ, kwargs)
        problems += _served_name(environ, kwargs)
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


# Embedded Metric Format: variable -> (field, parse, check, what is expected)
_EMF: dict[str, tuple[str, Callable[[str], Any], Callable[[Any], bool], str]] = {
    "EMF_NAMESPACE": (
        "emf_namespace",
        str,
        lambda v: bool(_NAMESPACE.fullmatch(v)),
        "a CloudWatch namespace: 1-255 of A-Z a-z 0-9 space . _ - / # :, not blank, not starting with ':' or AWS/",
    ),
    "EMF_INTERVAL_S": ("emf_interval_s", int, lambda v: 1 <= v <= 3600, "whole seconds, 1-3600"),
    "EMF_SERVICE": ("emf_service", str, lambda v: bool(_NAME.fullmatch(v)), f"{NAME_RULE}, as MODEL_NAME"),
    "EMF_SINK": (
        "emf_sink",
        str,
        lambda v: v == "stdout" or emf_socket(v) is not None,
        "stdout, tcp://127.0.0.1:<port> or udp://127.0.0.1:<port> (the CloudWatch agent's EMF listener)",
    ),
}


# Choices and the prediction metrics' cap: variable -> (field, parse, check, what is expected)
_CHOICES: dict[str, tuple[str, Callable[[str], Any], Callable[[Any], bool], str]] = {
    "MODEL_NAME": ("model_name", str, lambda v: bool(_NAME.fullmatch(v)), NAME_RULE),
    "MODEL_VERSION": ("model_version", str, lambda v: bool(_NAME.fullmatch(v)), NAME_RULE),
    "GOLDEN_URI": ("golden_uri", str, lambda v: v == v.strip(), "a path or s3://bucket/key, no spaces around"),
    "GOLDEN_SHA256": ("golden_sha256", str, lambda v: bool(_SHA256.fullmatch(v)), "64 hex digits"),
    "EMF_DISTRIBUTION": (
        "emf_distribution",
        str,
        lambda v: v in ("values_counts", "values"),
        "values_counts (a distribution as Values and Counts) or values (plain value arrays)",
    ),
    "PREDICTION_METRICS": ("prediction_metrics", str, lambda v: v in ("on", "off"), "on or off"),
    "PREDICTION_KIND": (
        "prediction_kind",
        str,
        lambda v: v in ("auto", "classifier", "regressor"),
        "auto (from the model's outputs), classifier or regressor",
    ),
    "PREDICTION_CLASSES_MAX": ("prediction_classes_max", int, lambda v: 1 <= v <= 1000, "an integer, 1-1000"),
    "GOLDEN_REQUIRED": (
        "golden_required",
        lambda v: {"true": True, "false": False}[v.lower()],
        lambda v: True,
        "true (a model without a golden set does not start) or false",
    ),
}


def _served_name(environ: Mapping[str, str], kwargs: dict[str, Any]) -> list[str]:
    """Without MODEL_NAME, the model file's stem is the served name: the URL's path segment and
    the ``Model`` dimension CloudWatch refuses (dropping the whole document) when it is not
    printable ASCII or blank. Refused here, naming the file; never rewritten silently."""
    if kwargs.get("model_name"):
        return []
    from model_server.model import default_name

    uri = kwargs.get("model_uri", DEFAULT_MODEL_PATH)
    stem = default_name(uri)
    if _NAME.fullmatch(stem):
        return []
    return [
        f"MODEL_URI={uri!r}: the file's stem {stem!r} would be the served name and the Model dimension, "
        f"which must be {NAME_RULE}; rename the file or set MODEL_NAME"
    ]


def emf_socket(sink: str) -> tuple[str, str, int] | None:
    """(protocol, host, port) of a tcp:// or udp:// EMF_SINK; None for anything else."""
    match = EMF_SOCKET.fullmatch(sink)
    if match is None:
        return None
    port = int(match.group(3) or EMF_AGENT_PORT)
    return (match.group(1), match.group(2), port) if 1 <= port <= 65535 else None


def _read(
    environ: Mapping[str, str],
    fields: Mapping[str, tuple[str, Callable[[str], Any], Callable[[Any], bool], str]],
    kwargs: dict[str, Any],
) -> list[str]:
    """Each variable set and valid into ``kwargs``; a problem naming each one that is not."""
    problems = []
    for var, (name, parse, ok, expected) in fields.items():
        raw = environ.get(var)
        if raw is None or raw == "":
            continue
        try:
            value = parse(raw)
        except (ValueError, KeyError):
            value = None
        if value is None or not ok(value):
            problems.append(f"{var}={raw!r}: expected {expected}")
        else:
            kwargs[name] = value
    return problems
