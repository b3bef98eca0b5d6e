"""What the server's parts share while it runs: the model, its batcher and metrics, the
infer call, whether it is draining, why the model may not serve (its golden set failed) and
how many infer calls are in flight."""

from __future__ import annotations

from model_server.batcher import Batcher
from model_server.config import Config
from model_server.infer import InferCall
from model_server.metrics import Metrics
from model_server.model import OnnxModel
from model_server.predictions import Predictions


class State:
    """One event loop uses it, so there are no locks."""

    def __init__(
        self,
        config: Config,
        model: OnnxModel,
        metrics: Metrics,
        batcher: Batcher,
        *,
        unfit: str | None = None,
        predictions: Predictions | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.metrics = metrics
        self.batcher = batcher
        self.unfit = unfit  # set at start when the golden set failed: never ready, infer refused
        self.infer = InferCall(config, model, batcher, metrics, unfit=unfit, predictions=predictions)
        metrics.golden_set_failed.set(0 if unfit is None else 1)
        self.draining = False
        self.in_flight = 0
        # Read when /metrics is scraped, not set twice per request.
        metrics.in_flight.set_function(lambda: self.in_flight)

    @property
    def ready(self) -> bool:
        return not self.draining and self.unfit is None

    def not_ready_reason(self) -> str:
        return "draining" if self.draining else self.unfit or ""

    def set_draining(self) -> None:
        self.draining = True
        self.metrics.draining.set(1)
