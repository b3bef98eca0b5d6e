"""A baseline for the benchmark: the model server's own stack (config, admission, FastAPI
on uvicorn, request parsing and checking against the model's metadata, batching, drain)
with onnxruntime replaced by a constant answer of the right shapes.

The difference to the real server is the model's own time, so the two together show how
much of a request the HTTP stack costs.

``python -m tools.harness.constant_server`` (PYTHONPATH must hold handlers/model_server).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

import numpy as np
from model_server import server
from model_server.model import Array, OnnxModel


def constant_run(
    self: OnnxModel, inputs: Mapping[str, Array], outputs: Sequence[str] | None = None
) -> dict[str, Array]:
    """Zeros of each output's shape, the batch dimension taken from the first input."""
    rows = next(iter(inputs.values())).shape[0]
    names = list(outputs) if outputs else [s.name for s in self.outputs]
    out = {}
    for name in names:
        spec = self.output_by_name[name]
        shape = tuple(rows if d == -1 else d for d in spec.shape)
        out[name] = np.zeros(shape, dtype=spec.dtype)
    return out


if __name__ == "__main__":
    OnnxModel.run = constant_run  # type: ignore[method-assign]
    sys.exit(server.main(os.environ))
