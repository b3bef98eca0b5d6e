"""Build the default model: scikit-learn's bundled wine dataset (ships inside the
package, nothing is downloaded), standardized logistic regression, exported to ONNX
with skl2onnx (one float32 input ``input`` of shape ``[batch, 13]``; outputs ``label``
(int64) and ``probabilities`` (float32), plain tensors: no ZipMap).

Runs at image build time (the serving image has no scikit-learn):
``python train.py model.onnx``. ``python train.py bench.onnx --heavy`` builds the
benchmark's heavier model instead (an MLP on the same data, 3 x 1024 hidden units).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from skl2onnx import to_onnx
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 0
HEAVY_HIDDEN = (1024, 1024, 1024)


def build(heavy: bool = False) -> tuple[Pipeline, float]:
    """The fitted pipeline and its held-out accuracy."""
    data = load_wine()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=SEED, stratify=data.target
    )
    clf: Any = (
        MLPClassifier(HEAVY_HIDDEN, max_iter=300, random_state=SEED)
        if heavy
        else LogisticRegression(max_iter=1000, random_state=SEED)
    )
    pipeline = make_pipeline(StandardScaler(), clf)
    pipeline.fit(x_train, y_train)
    return pipeline, float(pipeline.score(x_test, y_test))


def export(pipeline: Any, n_features: int, name: str) -> bytes:
    """ONNX bytes of a fitted scikit-learn classifier: float32 ``input`` [batch, n_features],
    outputs ``label`` and ``probabilities`` as tensors (``zipmap=False``)."""
    import numpy as np

    sample = np.zeros((1, n_features), dtype=np.float32)
    onx = to_onnx(
        pipeline,
        sample,
        name=name,
        target_opset=17,
        options={id(pipeline[-1]): {"zipmap": False}},
        final_types=None,
    )
    graph_input = onx.graph.input[0]
    graph_input.name = "input"
    for node in onx.graph.node:
        node.input[:] = ["input" if i == "X" else i for i in node.input]
    for output in onx.graph.output:
        if output.name == "output_label":
            _rename(onx, output.name, "label")
        elif output.name == "output_probability":
            _rename(onx, output.name, "probabilities")
    return bytes(onx.SerializeToString())


def _rename(onx: Any, old: str, new: str) -> None:
    for node in onx.graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
        node.input[:] = [new if i == old else i for i in node.input]
    for output in onx.graph.output:
        if output.name == old:
            output.name = new


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:] if a != "--heavy"]
    if len(args) != 1:
        print("usage: python train.py OUTPUT.onnx [--heavy]", file=sys.stderr)
        return 2
    heavy = "--heavy" in argv
    pipeline, accuracy = build(heavy)
    Path(args[0]).write_bytes(export(pipeline, 13, "wine-mlp" if heavy else "wine-logistic-regression"))
    print(f"wrote {args[0]}: test accuracy {accuracy:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
