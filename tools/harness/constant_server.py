"""The benchmark's baseline: the model server's own stack (config, limits, event loop,
request parsing, JSON parsing, drain) with ``/predict`` answering a constant instead of
calling the model.

The constant has the shape and size of the model's answer to the benchmark's request
(``CONSTANT_ROWS`` rows, default 8, three classes, six-decimal probabilities), so the two
servers send the same bytes and the ratio measures the model: input validation, the
forward pass and formatting its numbers.

``python -m tools.harness.constant_server`` (PYTHONPATH must hold handlers/model_server).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from model_server.server import Config, run

ROWS = int(os.environ.get("CONSTANT_ROWS", "8"))
CONSTANT = {
    "model": "wine-logistic-regression",
    "version": "1",
    "labels": ["class_0"] * ROWS,
    "probabilities": [[0.912345, 0.054321, 0.033334]] * ROWS,
}


def constant(_payload: Any) -> dict[str, Any]:
    return CONSTANT


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(), stream=sys.stdout)
    sys.exit(run(Config.from_env(os.environ), predict=constant))
