"""Build the default model: scikit-learn's bundled wine dataset (ships inside the
package, nothing is downloaded), standardized logistic regression, exported to
``linear-classifier/v1`` JSON.

Runs at image build time (the serving image has no scikit-learn):
``python train.py model.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

SEED = 0


def build() -> tuple[Pipeline, dict[str, object]]:
    data = load_wine()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=SEED, stratify=data.target
    )
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    pipeline.fit(x_train, y_train)
    scaler, clf = pipeline[0], pipeline[1]
    doc = {
        "format": "linear-classifier/v1",
        "name": "wine-logistic-regression",
        "version": "1",
        "feature_names": list(data.feature_names),
        "classes": [str(c) for c in data.target_names],
        "mean": scaler.mean_.tolist(),
        "scale": scaler.scale_.tolist(),
        "coef": clf.coef_.tolist(),
        "intercept": clf.intercept_.tolist(),
        "test_accuracy": float(pipeline.score(x_test, y_test)),
    }
    return pipeline, doc


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python train.py OUTPUT.json", file=sys.stderr)
        return 2
    _, doc = build()
    Path(argv[1]).write_text(json.dumps(doc))
    print(f"wrote {argv[1]}: test accuracy {doc['test_accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
