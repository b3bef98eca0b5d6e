"""The model format and its numpy forward pass, in-process: the same numbers as
scikit-learn for multinomial and binary models, and model documents checked in full."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_server import model as model_lib


def export(pipeline: Any, features: list[str], classes: list[str]) -> dict[str, Any]:
    scaler, clf = pipeline[0], pipeline[1]
    return {"format": model_lib.FORMAT, "name": "t", "version": "1", "feature_names": features, "classes": classes,
            "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(), "coef": clf.coef_.tolist(),
            "intercept": clf.intercept_.tolist()}  # fmt: skip


@pytest.mark.parametrize("dataset", ["wine", "breast_cancer"])
def test_forward_pass_equals_scikit_learn(dataset: str, tmp_path: Path) -> None:
    """wine: 3 classes (softmax); breast_cancer: 2 classes, one coefficient row (sigmoid)."""
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = getattr(datasets, f"load_{dataset}")()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(data.data, data.target)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(export(pipeline, list(data.feature_names), [str(c) for c in data.target_names])))
    model = model_lib.load(str(path))
    x = model_lib.to_matrix(data.data.tolist(), model.n_features, 1000)
    labels, proba = model.predict(x)
    assert np.allclose(proba, pipeline.predict_proba(data.data), atol=1e-9)
    assert labels == [str(data.target_names[i]) for i in pipeline.predict(data.data)]


def test_extreme_inputs_give_finite_probabilities() -> None:
    doc = {"format": model_lib.FORMAT, "feature_names": ["a"], "classes": ["n", "y"], "mean": [0.0], "scale": [1e-6],
           "coef": [[50.0]], "intercept": [0.0]}  # fmt: skip
    _, proba = model_lib.from_dict(doc).predict(np.array([[1e12], [-1e12]]))
    assert np.isfinite(proba).all() and proba.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_a_tie_goes_to_the_first_of_the_most_probable_classes() -> None:
    """Tied rows get a stable label: the first of the equally probable classes."""
    doc = {"format": model_lib.FORMAT, "feature_names": ["a"], "classes": ["p", "q", "r"], "mean": [0.0],
           "scale": [1.0], "coef": [[0.0], [1.0], [1.0]], "intercept": [0.0, 0.0, 0.0]}  # fmt: skip
    model = model_lib.from_dict(doc)
    x = np.array([[0.0], [2.0], [-2.0]])  # all equal; q and r tie on top; p alone on top
    labels, proba = model.predict(x)
    assert proba[1, 1] == proba[1, 2] and labels == ["p", "q", "p"]


def test_a_bad_model_document_names_every_problem() -> None:
    doc = {"format": "pickle", "feature_names": ["a", "b"], "classes": ["x", "y", "z"], "mean": [0, 0],
           "scale": [1, 0], "coef": [[1, 2]], "intercept": "x"}  # fmt: skip
    with pytest.raises(model_lib.ModelError) as err:
        model_lib.from_dict(doc)
    message = str(err.value)
    for fragment in ("format must be", "scale must not contain 0", "coef must have shape (3, 2)", "intercept must"):
        assert fragment in message


def test_missing_or_non_json_model_files_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(model_lib.ModelError, match="model path"):
        model_lib.load(str(tmp_path / "absent.json"))
    (tmp_path / "x.json").write_text("not json")
    with pytest.raises(model_lib.ModelError, match="not JSON"):
        model_lib.load(str(tmp_path / "x.json"))
    with pytest.raises(model_lib.ModelError, match="s3://bucket/key"):
        model_lib.load("s3://only-bucket")
