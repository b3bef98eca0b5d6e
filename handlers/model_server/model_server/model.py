"""The model format the server loads, and its numpy forward pass.

A standardized linear classifier (``linear-classifier/v1``): ``(x - mean) / scale``,
then ``softmax(z @ coef.T + intercept)`` (multinomial) or ``sigmoid`` (binary). It is
what scikit-learn's ``StandardScaler`` + ``LogisticRegression`` computes, exported to
JSON so that serving needs numpy only and loads in milliseconds.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FORMAT = "linear-classifier/v1"
# Inputs beyond this magnitude are no measurement; the bound also keeps every logit finite.
MAX_ABS_VALUE = 1e12

Matrix = npt.NDArray[np.float64]


class ModelError(ValueError):
    """The model document is unusable; the message names what is wrong."""


class InputError(ValueError):
    """A request's instances are unusable; the message names what is wrong."""


@dataclass(frozen=True)
class LinearClassifier:
    name: str
    version: str
    feature_names: tuple[str, ...]
    classes: tuple[str, ...]
    mean: Matrix
    scale: Matrix
    coef: Matrix  # (n_classes, n_features), or (1, n_features) when binary
    intercept: Matrix
    _weights: Matrix = field(init=False, repr=False, compare=False)
    _bias: Matrix = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Fold the standardization into the weights once: ((x - m) / s) @ C.T + b equals
        # x @ (C / s).T + (b - (m / s) @ C.T), one matrix product per request.
        object.__setattr__(self, "_weights", (self.coef / self.scale).T.copy())
        object.__setattr__(self, "_bias", self.intercept - (self.mean / self.scale) @ self.coef.T)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def predict_proba(self, x: Matrix) -> Matrix:
        logits: Matrix = x @ self._weights + self._bias
        if len(self.classes) == 2 and self.coef.shape[0] == 1:
            p1 = 0.5 * (1.0 + np.tanh(0.5 * logits[:, 0]))  # the sigmoid, without exp overflow
            return np.column_stack([1.0 - p1, p1])
        logits -= logits.max(axis=1, keepdims=True)  # overflow-safe softmax, in place
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        return logits

    def predict(self, x: Matrix) -> tuple[list[str], Matrix]:
        proba = self.predict_proba(x)
        classes = self.classes
        # argmax picks the first most probable class of a tied row. It releases the GIL on
        # every call, which cost a GIL handoff per request in the old threaded server; the
        # event-loop server has no other thread to hand it to.
        labels = [classes[i] for i in proba.argmax(axis=1).tolist()]
        return labels, proba

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "feature_names": list(self.feature_names),
            "classes": list(self.classes),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
        }


def from_dict(doc: Any) -> LinearClassifier:
    """A classifier from its JSON document; every problem is named in one ModelError."""
    if not isinstance(doc, dict):
        raise ModelError("model document must be a JSON object")
    problems: list[str] = []
    if doc.get("format") != FORMAT:
        problems.append(f"format must be {FORMAT!r}, got {doc.get('format')!r}")
    features = doc.get("feature_names")
    classes = doc.get("classes")
    if not (isinstance(features, list) and features and all(isinstance(f, str) for f in features)):
        problems.append("feature_names must be a non-empty list of strings")
        features = []
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)):
        problems.append("classes must be a list of >= 2 strings")
        classes = ["?", "?"]
    n, k = len(features), len(classes)
    arrays: dict[str, Matrix] = {}
    rows = 1 if k == 2 and isinstance(doc.get("coef"), list) and len(doc["coef"]) == 1 else k
    for key, shape in (("mean", (n,)), ("scale", (n,)), ("coef", (rows, n)), ("intercept", (rows,))):
        try:
            arr = np.asarray(doc.get(key), dtype=np.float64)
        except (TypeError, ValueError):
            problems.append(f"{key} must be numbers")
            continue
        if arr.shape != shape:
            problems.append(f"{key} must have shape {shape}, got {arr.shape}")
        elif not np.isfinite(arr).all():
            problems.append(f"{key} must be finite")
        arrays[key] = arr
    if "scale" in arrays and arrays["scale"].shape == (n,) and (arrays["scale"] == 0).any():
        problems.append("scale must not contain 0")
    if problems:
        raise ModelError("invalid model: " + "; ".join(problems))
    return LinearClassifier(
        name=str(doc.get("name", "model")),
        version=str(doc.get("version", "0")),
        feature_names=tuple(features),
        classes=tuple(classes),
        **arrays,
    )


def load(uri: str, s3_client: Any = None) -> LinearClassifier:
    """Load from a local path or an ``s3://bucket/key`` URI."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        if not bucket or not key:
            raise ModelError(f"model URI {uri!r}: expected s3://bucket/key")
        if s3_client is None:
            import boto3  # only a model in S3 needs it

            s3_client = boto3.client("s3")
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    else:
        try:
            body = Path(uri).read_bytes()
        except OSError as exc:
            raise ModelError(f"model path {uri!r}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"model {uri!r}: not JSON ({exc})") from exc
    return from_dict(doc)


def to_matrix(instances: Any, n_features: int, max_rows: int) -> Matrix:
    """Request instances as a float matrix, or an InputError naming the first bad value."""
    if not isinstance(instances, list):
        raise InputError("'instances' must be a list of rows")
    if not instances:
        raise InputError("'instances' must hold at least one row")
    if len(instances) > max_rows:
        raise InputError(f"'instances' has {len(instances)} rows; at most {max_rows} per request")
    # Fast path for the common, valid batch: exact int/float types (so no bool, which is
    # an int subclass, and no strings numpy would parse), then one vectorized range check.
    if (
        set(map(type, instances)) == _LIST
        and set(map(len, instances)) == {n_features}
        and set(map(type, itertools.chain.from_iterable(instances))) <= _NUMBER
    ):
        try:
            x = np.asarray(instances, dtype=np.float64)
        except OverflowError:  # an integer beyond float range: reported below
            pass
        else:
            if np.abs(x).max() <= MAX_ABS_VALUE:  # False for NaN and inf too
                return x
    _raise_first_problem(instances, n_features)
    raise AssertionError("unreachable: the fast path rejected a valid batch")  # pragma: no cover


_NUMBER = frozenset((int, float))
_LIST = frozenset((list,))


def _raise_first_problem(instances: list[Any], n_features: int) -> None:
    for i, row in enumerate(instances):
        if not isinstance(row, list):
            raise InputError(f"instances[{i}] must be a list of {n_features} numbers")
        if len(row) != n_features:
            raise InputError(f"instances[{i}] has {len(row)} values; the model takes {n_features}")
        for j, v in enumerate(row):
            # bool is an int in Python, but true/false is not a measurement.
            if isinstance(v, bool) or not isinstance(v, int | float) or (isinstance(v, float) and not math.isfinite(v)):
                raise InputError(f"instances[{i}][{j}] = {v!r}: must be a finite number")
            if abs(v) > MAX_ABS_VALUE:
                raise InputError(f"instances[{i}][{j}] = {v!r}: must be within +/-{MAX_ABS_VALUE:g}")
