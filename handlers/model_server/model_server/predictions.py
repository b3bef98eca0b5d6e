"""What the model predicts, counted per class or as a distribution, in the server's EMF documents.

Per ``Service``, ``Model`` and ``Version`` and interval, for successful infer calls only (a
call answered with an error is never counted):

* a classifier: ``Predictions`` (Count), dimensions ``[Service, Model, Version, Class]``: rows
  predicted as each class. ``Class`` is the model's label (its integer or string label output)
  or, for a model that gives scores only, the argmax index. At most
  ``PREDICTION_CLASSES_MAX`` classes per model keep their name (the first ones seen); the rest,
  and a label that is no CloudWatch dimension value (printable ASCII, 1-1024, not blank), are
  counted as ``_other``. A dimension takes one value per document, so each class seen since
  start has a short document of its own every interval, zeros included;
* a regressor: ``PredictedValue`` (None), dimensions ``[Service, Model, Version]``: the first
  output of each row, as a distribution in the server's document (values within 1 %).

``PREDICTION_KIND=auto`` tells them apart from the model's outputs (:func:`detect`); a call
that did not ask for the output read is not counted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from model_server.emf import Directive, Identity, Window
from model_server.model import Array, OnnxModel, TensorSpec

Kind = Literal["classifier", "regressor"]
OTHER = "_other"
CLASS_DIMENSIONS = [["Service", "Model", "Version", "Class"]]
VALUE_DIMENSIONS = [["Service", "Model", "Version"]]
_DIMENSION_VALUE = re.compile(r"(?=.*[^ ])[\x20-\x7e]{1,1024}")  # CloudWatch: printable ASCII, not blank
_LABEL_TYPES = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "BYTES")
UNIQUE_ABOVE = 64  # rows from which numpy's unique counts faster than a loop


class PredictionError(ValueError):
    """The model's outputs do not allow the prediction metrics asked for."""


@dataclass(frozen=True)
class Source:
    kind: Kind
    output: str  # the output read
    argmax: bool = False  # a classifier from scores: the class is the argmax index

    def describe(self) -> str:
        how = "argmax of" if self.argmax else "first value of" if self.kind == "regressor" else "label output"
        return f"{self.kind}, {how} {self.output!r}"


def _per_row(spec: TensorSpec) -> bool:
    """One value per row: ``[batch]`` or ``[batch, 1]``."""
    return spec.batched and (len(spec.shape) == 1 or (len(spec.shape) == 2 and spec.shape[1] == 1))


def _scores(spec: TensorSpec) -> bool:
    return spec.batched and spec.datatype.startswith("FP") and len(spec.shape) == 2 and spec.shape[1] != 1


def detect(model: OnnxModel, kind: str = "auto") -> Source:
    """Which output says what the model predicted. auto: a classifier when an output is an
    integer or string label (one per row), or float scores named like probabilities; else a
    regressor on the first output's first value."""
    labels = [s for s in model.outputs if s.datatype in _LABEL_TYPES and _per_row(s)]
    scores = [s for s in model.outputs if _scores(s)]
    numeric = [s for s in model.outputs if s.batched and s.datatype != "BYTES"]
    if kind == "auto":
        named = [s for s in scores if "prob" in s.name.lower()]
        kind = "classifier" if labels or named else "regressor"
    if kind == "classifier":
        if labels:
            return Source("classifier", labels[0].name)
        if scores:
            return Source("classifier", scores[0].name, argmax=True)
        raise PredictionError(
            f"PREDICTION_KIND=classifier: the model has no label output (integer or string, one per row) "
            f"and no score output (float, [batch, classes]); its outputs: {[s.metadata() for s in model.outputs]}"
        )
    if not numeric:
        raise PredictionError(
            "prediction metrics: no numeric output with a batch dimension to read; set PREDICTION_METRICS=off"
        )
    return Source("regressor", numeric[0].name)


class Predictions:
    """Counts into the open window (on the event loop: no locks) and writes them per interval."""

    def __init__(self, source: Source, classes_max: int) -> None:
        self.source = source
        self.classes_max = classes_max
        self.names: dict[Any, str] = {}  # label -> Class value, admitted in the order seen, kept
        self.observe = self._classes if source.kind == "classifier" else self._values

    def _classes(self, window: Window, results: Mapping[str, Array]) -> None:
        out = results.get(self.source.output)
        if out is None:
            return
        if self.source.argmax:
            out = out.reshape(len(out), -1).argmax(axis=1)
        counts = window.classes
        if out.size > UNIQUE_ABOVE:
            labels, times = np.unique(out, return_counts=True)
            for label, n in zip(labels.tolist(), times.tolist(), strict=True):
                counts[label] = counts.get(label, 0) + n
            return
        for label in out.ravel().tolist():
            counts[label] = counts.get(label, 0) + 1

    def _values(self, window: Window, results: Mapping[str, Array]) -> None:
        out = results.get(self.source.output)
        if out is not None and out.size:
            window.predicted.add_many(out.reshape(len(out), -1)[:, 0])

    def class_name(self, label: Any) -> str:
        name = self.names.get(label)
        if name is not None:
            return name
        text = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
        if len(self.names) >= self.classes_max or not _DIMENSION_VALUE.fullmatch(text) or text == OTHER:
            return OTHER
        self.names[label] = text
        return text

    def directives(self, window: Window, form: str) -> list[Directive]:
        """A regressor's distribution, in the server's own document."""
        if self.source.kind != "regressor":
            return []
        return [(VALUE_DIMENSIONS, {"PredictedValue": ("None", window.predicted.written(form))})]

    def documents(self, window: Window, identity: Identity, timestamp: int) -> list[dict[str, Any]]:
        """A classifier's documents: one per class seen since start (zeros included)."""
        if self.source.kind != "classifier":
            return []
        rows: dict[str, int] = {}
        for label, n in window.classes.items():
            name = self.class_name(label)
            rows[name] = rows.get(name, 0) + n
        for name in self.names.values():
            rows.setdefault(name, 0)
        directive: dict[str, Any] = {"Namespace": identity.namespace, "Dimensions": CLASS_DIMENSIONS}
        directive["Metrics"] = [{"Name": "Predictions", "Unit": "Count"}]
        return [
            {
                "_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [directive]},
                "Service": identity.service,
                "Model": identity.model,
                "Version": identity.version,
                "Class": name,
                "Predictions": n,
            }
            for name, n in sorted(rows.items())
        ]
