"""``python -m model_server``: load the model, serve it on uvicorn (uvloop, httptools),
drain on SIGTERM.

Behaviour that matters in production:

* the model is loaded (and its SHA-256 checked) once, before the port opens; a model
  that does not load stops the process with a clear message (exit 3) instead of serving
  errors; a bad configuration names every bad variable (exit 2);
* then the model answers its golden set (model_server.golden). A set that cannot be used
  (unreadable, malformed, its SHA-256 not GOLDEN_SHA256's, missing when required) stops the
  process (exit 3); answers outside tolerance leave it up but never ready: ``/v2/health/ready``
  503 and the model's ready route false, both with the reason, infer calls 503, one log line
  per wrong answer, ``GoldenSetFailed`` 1 in its metrics. Liveness stays true: the deploy
  fails on readiness instead of restarting the same wrong model in a loop;
* with ``JWT_ISSUER``, ``JWT_AUDIENCE`` and ``JWKS_URL``, the issuer's signing keys are read
  once, before the port opens (none usable: exit 4, naming why), so a request never waits
  on the issuer; every route but ``/v2/health/live`` and ``/v2/health/ready`` then needs a
  valid bearer token, or it is 401 before admission and before its body is read;
* at most ``MAX_IN_FLIGHT`` infer calls at once; one more gets 503 with ``Retry-After``
  while health, readiness and metrics stay answered (admission.Admission);
* bad input is a 4xx naming the problem, never a 500; bodies are bounded;
* SIGTERM: ``/v2/health/ready`` turns 503 first, the listener closes after
  ``DRAIN_DELAY_S``, in-flight requests finish (up to ``DRAIN_TIMEOUT_S``), exit 0;
* with ``EMF_NAMESPACE``, the metrics leave the process as CloudWatch Embedded Metric Format,
  one document per ``EMF_INTERVAL_S`` (model_server.emf; docs/model-server-metrics.md), the
  last one after the drain.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from types import FrameType

import uvicorn

from model_server import auth, golden
from model_server import model as model_lib
from model_server.admission import ASGIApp
from model_server.app import create_app
from model_server.config import Config, ConfigError
from model_server.model import OnnxModel
from model_server.predictions import PredictionError
from model_server.state import State

log = logging.getLogger("model_server")

# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
# The onnxruntime thread releases the GIL for the model and needs it back to return; with
# the default, it waited up to 5 ms after every call while the event loop parsed requests,
# and the model sat idle: at 64 clients with batching, 2,700 req/s at 5 ms and 3,400-3,600
# at 0.5 ms on 2 cores (README, "Model server benchmark").
GIL_SWITCH_INTERVAL_S = 0.0005
GOLDEN_LOGGED = 20  # wrong answers logged one per line; the rest are counted


class DrainingServer(uvicorn.Server):
    """uvicorn, but the first SIGTERM only turns readiness false; the listener closes
    ``drain_delay_s`` later (a load balancer has noticed by then), then uvicorn's own
    graceful shutdown lets in-flight requests finish."""

    def __init__(self, config: uvicorn.Config, state: State) -> None:
        super().__init__(config)
        self.state = state
        self.drain_started: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_started is None:
            self.drain_started = time.monotonic()
            self.state.set_draining()
            log.info("SIGTERM: not ready; closing the listener in %.1f s", self.state.config.drain_delay_s)
            return
        super().handle_exit(sig, frame)  # a second signal: stop now

    async def on_tick(self, counter: int) -> bool:
        if self.drain_started is not None and time.monotonic() - self.drain_started >= self.state.config.drain_delay_s:
            self.should_exit = True
        return await super().on_tick(counter)


def build(config: Config, verifier: auth.JwtVerifier | None = None) -> tuple[ASGIApp, State]:
    """The app over the loaded model; ModelError when the model cannot be served."""
    t = time.perf_counter()
    name = config.model_name or model_lib.default_name(config.model_uri)
    model = model_lib.load(config.model_uri, name, sha256=config.model_sha256, version=config.model_version, threads=1)
    log.info(
        "model %s v%s loaded from %s in %.0f ms: inputs %s, outputs %s",
        model.name,
        model.version,
        config.model_uri,
        (time.perf_counter() - t) * 1000,
        [s.metadata() for s in model.inputs],
        [s.metadata() for s in model.outputs],
    )
    return create_app(config, model, verifier=verifier, unfit=golden_verdict(config, model))


def golden_verdict(config: Config, model: OnnxModel) -> str | None:
    """Why ``model`` may not serve (answers of its golden set outside tolerance), or None;
    GoldenError when the set cannot be used."""
    uri = config.golden_uri or golden.beside(config.model_uri)
    found = golden.load(uri, model, sha256=config.golden_sha256)
    if found is None:
        if config.golden_uri or config.golden_sha256 or config.golden_required:
            why = (
                "GOLDEN_URI names it" if config.golden_uri else "GOLDEN_SHA256 pins it" if config.golden_sha256 else ""
            )
            raise golden.GoldenError(
                f"golden set {uri!r}: not found; {why or 'GOLDEN_REQUIRED=true'}: every model needs one "
                f"(write it with `make golden MODEL=... INPUTS=...`)"
            )
        log.warning("no golden set at %s: model %s v%s serves unchecked", uri, model.name, model.version)
        return None
    wrong = golden.check(found, model)
    if not wrong:
        log.info("golden set %s: %d rows answered within tolerance", uri, found.rows)
        return None
    for mismatch in wrong[:GOLDEN_LOGGED]:
        log.error("golden set %s: wrong answer: %s", uri, mismatch)
    rows = len({m.row for m in wrong})
    reason = f"golden set {uri} failed: {rows} of {found.rows} rows outside tolerance, first {wrong[0]}"
    log.error("%s; not ready: this model takes no traffic", reason)
    return reason


def run(config: Config, app: ASGIApp, state: State) -> int:
    server = DrainingServer(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_keep_alive=config.keep_alive_s,
            timeout_graceful_shutdown=int(max(1, config.drain_timeout_s)),
            backlog=2048,
        ),
        state,
    )
    server.run()
    drained = state.in_flight == 0
    log.info("drained" if drained else "drain timeout: exiting with requests in flight")
    return 0 if drained else 1


def main(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    logging.basicConfig(
        level=environ.get("LOG_LEVEL", "INFO").upper(),
        format='{"time":"%(asctime)s","level":"%(levelname)s","message":"%(message)s"}',
        stream=sys.stdout,
    )
    try:
        config = Config.from_env(environ)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    verifier = None
    if config.auth_required:
        try:
            verifier = auth.JwtVerifier.from_issuer(config.jwt_issuer, config.jwt_audience, config.jwks_url)
        except auth.KeysError as exc:
            log.error("cannot start with authentication: %s", exc)
            return 4
        log.info(
            "bearer tokens of %s for %s: %d signing key(s) read",
            config.jwt_issuer,
            config.jwt_audience,
            len(verifier.keys),
        )
    try:
        app, state = build(config, verifier)
    except model_lib.ModelError as exc:
        log.error("cannot load model: %s", exc)
        return 3
    except golden.GoldenError as exc:
        log.error("cannot check the model: %s", exc)
        return 3
    except PredictionError as exc:
        log.error("invalid configuration: %s", exc)
        return 2
    return run(config, app, state)
