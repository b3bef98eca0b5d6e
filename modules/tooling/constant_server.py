"""The benchmark's baseline: the model server's own stack (config, limits, handler, JSON
parsing, drain) with ``/predict`` answering a constant instead of calling the model.

``python -m modules.tooling.constant_server`` (PYTHONPATH must hold handlers/model_server).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from model_server.server import Config, run

CONSTANT = {"model": "constant", "version": "0", "labels": ["class_0"], "probabilities": [[1.0, 0.0, 0.0]]}


def constant(_payload: Any) -> dict[str, Any]:
    return CONSTANT


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(), stream=sys.stdout)
    sys.exit(run(Config.from_env(os.environ), predict=constant))
