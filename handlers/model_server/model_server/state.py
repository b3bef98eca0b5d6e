"""What the server's parts share while it runs: the model, its batcher and metrics, the
infer call, whether it is draining and how many infer calls are in flight."""

from __future__ import annotations

from model_server.batcher import Batcher
from model_server.config import Config
from model_server.infer import InferCall
from model_server.metrics import Metrics
from model_server.model import OnnxModel


class State:
    """One event loop uses it, so there are no locks."""

    def __init__(self, config: Config, model: OnnxModel, metrics: Metrics, batcher: Batcher) -> None:
        self.config = config
        self.model = model
        self.metrics = metrics
        self.batcher = batcher
        self.infer = InferCall(config, model, batcher, metrics)
        self.draining = False
        self.in_flight = 0
        # Read when /metrics is scraped, not set twice per request.
        metrics.in_flight.set_function(lambda: self.in_flight)

    def set_draining(self) -> None:
        self.draining = True
        self.metrics.draining.set(1)
