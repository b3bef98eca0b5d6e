"""A model's golden set, the labelled rows it must answer within tolerance before the server is ready.

It is a small labelled sample that ships with each model version.

A golden set is one JSON document, ``<model stem>.golden.json`` beside the model (the same
folder or S3 prefix) unless ``GOLDEN_URI`` names another; ``GOLDEN_SHA256`` pins its bytes::

    {"description": "wine, 12 rows of the held-out split",
     "inputs": {"input": [[13.2, 1.78, ...], ...]},          # per model input: its rows
     "outputs": {"label": [0, ...], "probabilities": [[0.98, 0.01, 0.01], ...]},
     "tolerance": {"probabilities": 0.0001}}                   # absolute, per output; missing = exact

Every model input is given, each with the same number of rows (one at least); the expected
outputs are some or all of the model's. A set that breaks these rules is refused with a
:class:`GoldenError` naming what is wrong, and the server does not start. A set that is
well formed but answered wrong (:func:`check`) leaves the server up and unready: the answers
outside tolerance are the reason it gives.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from model_server import model as model_lib
from model_server.model import Array, OnnxModel, TensorSpec

SUFFIX = ".golden.json"
FIELDS = ("description", "inputs", "outputs", "tolerance")
MISSING_S3 = ("NoSuchKey", "404")


class GoldenError(ValueError):
    """A golden set that cannot be used; the message names what is wrong."""


@dataclass(frozen=True)
class Mismatch:
    """One answer outside tolerance."""

    row: int
    output: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        return f"row {self.row}, output {self.output!r}: expected {self.expected!r}, got {self.got!r}"


@dataclass(frozen=True)
class GoldenSet:
    uri: str
    rows: int
    inputs: dict[str, Array]
    expected: dict[str, Array]
    tolerance: dict[str, float]


def beside(model_uri: str) -> str:
    """The golden set's default place: ``<stem>.golden.json`` in the model's folder or prefix."""
    head, slash, name = model_uri.rpartition("/")
    return f"{head}{slash}{Path(name).stem}{SUFFIX}"


def fetch(uri: str) -> bytes | None:
    """The set's bytes; None when there is no object or file there (any other failure: GoldenError)."""
    if not uri.startswith("s3://") and not Path(uri).exists():
        return None
    try:
        return model_lib.read(uri, what="golden set")
    except model_lib.ModelError as exc:
        code = getattr(exc.__cause__, "response", {}).get("Error", {}).get("Code")
        if code in MISSING_S3:
            return None
        raise GoldenError(str(exc)) from None


def parse(body: bytes, uri: str, model: OnnxModel, sha256: str = "") -> GoldenSet:
    """A checked golden set for ``model``; GoldenError naming the first problem."""
    if sha256:
        actual = hashlib.sha256(body).hexdigest()
        if actual != sha256.lower():
            raise GoldenError(f"golden set {uri!r}: SHA-256 is {actual}, GOLDEN_SHA256 expects {sha256.lower()}")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GoldenError(f"golden set {uri!r}: not valid JSON: {exc}") from None
    try:
        return _checked(doc, uri, model)
    except GoldenError as exc:
        raise GoldenError(f"golden set {uri!r}: {exc}") from None


def _checked(doc: Any, uri: str, model: OnnxModel) -> GoldenSet:
    if not isinstance(doc, dict):
        raise GoldenError("expected a JSON object with 'inputs', 'outputs' and 'tolerance'")
    unknown = sorted(set(doc) - set(FIELDS))
    if unknown:
        raise GoldenError(f"unknown field(s) {', '.join(unknown)}; a golden set has {', '.join(FIELDS)}")
    inputs, outputs = _columns(doc, "inputs"), _columns(doc, "outputs")
    wanted = [s.name for s in model.inputs]
    if sorted(inputs) != sorted(wanted):
        missing, unknown = sorted(set(wanted) - set(inputs)), sorted(set(inputs) - set(wanted))
        raise GoldenError(
            f"its inputs {sorted(inputs)} do not match the model's inputs {wanted} "
            f"(missing: {missing or 'none'}, unknown: {unknown or 'none'})"
        )
    unknown_out = sorted(set(outputs) - set(model.output_by_name))
    if unknown_out:
        raise GoldenError(f"output(s) {unknown_out} are not the model's; it gives {[s.name for s in model.outputs]}")
    counts = {
        f"{kind} {name!r}": len(rows)
        for kind, cols in (("input", inputs), ("output", outputs))
        for name, rows in cols.items()
    }
    if set(counts.values()) == {0}:
        raise GoldenError("no rows: a golden set needs at least one labelled row")
    if len(set(counts.values())) != 1:
        raise GoldenError(f"every input and output needs the same number of rows; got {counts}")
    rows = next(iter(counts.values()))
    arrays = {name: as_array(rows_, model.input_by_name[name], "input") for name, rows_ in inputs.items()}
    expected = {name: as_array(rows_, model.output_by_name[name], "output") for name, rows_ in outputs.items()}
    return GoldenSet(uri, rows, arrays, expected, _tolerance(doc.get("tolerance", {}), outputs))


def _columns(doc: Mapping[str, Any], key: str) -> dict[str, list[Any]]:
    columns = doc.get(key)
    if not isinstance(columns, dict) or not columns:
        raise GoldenError(f"'{key}' must be an object of name -> rows (a list per {key[:-1]}), not empty")
    for name, rows in columns.items():
        if not isinstance(rows, list):
            raise GoldenError(f"{key[:-1]} {name!r}: expected a list of rows, got {type(rows).__name__}")
    return columns


def as_array(rows: Sequence[Any], spec: TensorSpec, role: str) -> Array:
    """The rows as the tensor the model takes or gives, its fixed dimensions checked."""
    try:
        array = np.array(rows, dtype=spec.dtype)
    except (ValueError, TypeError) as exc:
        raise GoldenError(f"{role} {spec.name!r}: rows are not {spec.datatype} values of one shape: {exc}") from None
    if role == "output" and len(spec.shape) >= 2 and array.ndim == 1 and math.prod(spec.shape[1:]) == 1:
        array = array.reshape((len(rows), *(1 for _ in spec.shape[1:])))  # [batch, 1] outputs may be given flat
    shape = list(array.shape)
    fits = len(shape) == len(spec.shape) and all(w in (-1, g) for w, g in zip(spec.shape[1:], shape[1:], strict=True))
    if not fits:
        raise GoldenError(
            f"{role} {spec.name!r}: rows of shape {shape[1:]}; the model's {role} has {list(spec.shape)} (-1: any size)"
        )
    if spec.datatype.startswith("FP") and not np.isfinite(array).all():
        raise GoldenError(f"{role} {spec.name!r}: values must be finite")
    return array


def _tolerance(given: Any, outputs: Mapping[str, Any]) -> dict[str, float]:
    if not isinstance(given, dict):
        raise GoldenError("'tolerance' must be an object of output name -> absolute tolerance")
    unknown = sorted(set(given) - set(outputs))
    if unknown:
        raise GoldenError(f"tolerance for {unknown}, which the set does not expect; it expects {sorted(outputs)}")
    tolerance = {}
    for name, value in given.items():
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            raise GoldenError(f"tolerance for {name!r} is {value!r}: must be a number >= 0 (absolute)")
        tolerance[name] = float(value)
    return tolerance


def check(golden: GoldenSet, model: OnnxModel) -> list[Mismatch]:
    """Every answer of ``model`` on the set that is outside tolerance; empty: it passes."""
    try:
        got = model.run(golden.inputs, list(golden.expected))
    except Exception as exc:  # onnxruntime's own exception types
        raise GoldenError(f"golden set {golden.uri!r}: the model cannot run on its inputs: {str(exc)[:300]}") from None
    mismatches = []
    for name, expected in golden.expected.items():
        answer = got[name].reshape(expected.shape) if got[name].size == expected.size else got[name]
        tolerance = golden.tolerance.get(name, 0.0)
        for row in range(golden.rows):
            want, have = expected[row], answer[row] if row < len(answer) else None
            if have is None or not _close(want, have, tolerance):
                mismatches.append(Mismatch(row, name, _plain(want), _plain(have)))
    return mismatches


def _close(want: Array, have: Array, tolerance: float) -> bool:
    if np.shape(want) != np.shape(have):
        return False
    if want.dtype == np.object_:
        return bool(np.array_equal(want, np.asarray(have, dtype=np.object_)))
    diff = np.abs(np.asarray(have, dtype=np.float64) - np.asarray(want, dtype=np.float64))
    return bool((diff <= tolerance).all())


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else value


def load(uri: str, model: OnnxModel, *, sha256: str = "") -> GoldenSet | None:
    """The checked golden set at ``uri``; None when there is none there."""
    body = fetch(uri)
    if body is None:
        return None
    return parse(body, uri, model, sha256)
