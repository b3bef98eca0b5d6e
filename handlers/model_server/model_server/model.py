"""An ONNX model run by onnxruntime on CPU, described by its own metadata.

``load(uri, sha256)`` reads the bytes (a local path or ``s3://bucket/key``), checks them
against an expected SHA-256 when one is given, and opens an ``InferenceSession``. Every
input and output must be a tensor of a type the Open Inference Protocol can carry (a
scikit-learn classifier exported with ZipMap has a map output: export it with
``options={"zipmap": False}``). Any problem is one ``ModelError`` naming it: the server
stops at start instead of serving errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# ONNX Runtime tensor types -> (Open Inference Protocol datatype, numpy dtype).
DATATYPES: dict[str, tuple[str, Any]] = {
    "tensor(bool)": ("BOOL", np.bool_),
    "tensor(uint8)": ("UINT8", np.uint8),
    "tensor(uint16)": ("UINT16", np.uint16),
    "tensor(uint32)": ("UINT32", np.uint32),
    "tensor(uint64)": ("UINT64", np.uint64),
    "tensor(int8)": ("INT8", np.int8),
    "tensor(int16)": ("INT16", np.int16),
    "tensor(int32)": ("INT32", np.int32),
    "tensor(int64)": ("INT64", np.int64),
    "tensor(float16)": ("FP16", np.float16),
    "tensor(float)": ("FP32", np.float32),
    "tensor(double)": ("FP64", np.float64),
    "tensor(string)": ("BYTES", np.object_),
}

Array = npt.NDArray[Any]


class ModelError(ValueError):
    """The model cannot be served; the message names what is wrong."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str  # FP32, INT64, ... (Open Inference Protocol)
    dtype: Any  # the numpy dtype onnxruntime takes or gives
    shape: tuple[int, ...]  # -1 for a dynamic dimension

    @property
    def batched(self) -> bool:
        """The first dimension is dynamic: rows of several requests can be stacked."""
        return len(self.shape) >= 1 and self.shape[0] == -1

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def _spec(arg: Any, role: str) -> TensorSpec:
    if arg.type not in DATATYPES:
        hint = " (a scikit-learn classifier: export with options={'zipmap': False})" if "map" in arg.type else ""
        raise ModelError(f"{role} {arg.name!r} has type {arg.type}, not a tensor the protocol carries{hint}")
    datatype, dtype = DATATYPES[arg.type]
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    return TensorSpec(arg.name, datatype, dtype, shape)


class OnnxModel:
    """One InferenceSession and the tensors it takes and gives."""

    platform = "onnxruntime_onnx"

    def __init__(self, body: bytes, name: str, version: str = "1", threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(body, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad bytes
            raise ModelError(f"onnxruntime cannot load it: {str(exc).strip()[:500]}") from exc
        self.name = name
        self.version = version
        self.inputs = tuple(_spec(a, "input") for a in self.session.get_inputs())
        self.outputs = tuple(_spec(a, "output") for a in self.session.get_outputs())
        self.input_by_name = {s.name: s for s in self.inputs}
        self.output_by_name = {s.name: s for s in self.outputs}

    @property
    def batchable(self) -> bool:
        """Every input and output has a dynamic first (batch) dimension."""
        return all(s.batched for s in (*self.inputs, *self.outputs))

    def run(self, inputs: Mapping[str, Array], outputs: Sequence[str] | None = None) -> dict[str, Array]:
        names = list(outputs) if outputs else [s.name for s in self.outputs]
        results = self.session.run(names, dict(inputs))
        return dict(zip(names, (np.asarray(r) for r in results), strict=True))

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": self.platform,
            "inputs": [s.metadata() for s in self.inputs],
            "outputs": [s.metadata() for s in self.outputs],
        }


def read(uri: str, s3_client: Any = None, what: str = "model") -> bytes:
    """The bytes of ``what`` (the model, its golden set) from a local path or an ``s3://bucket/key`` URI."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        if not bucket or not key:
            raise ModelError(f"{what} URI {uri!r}: expected s3://bucket/key")
        if s3_client is None:
            import boto3  # only a model in S3 needs it

            s3_client = boto3.client("s3")
        try:
            return bytes(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:  # botocore's ClientError and connection errors
            raise ModelError(f"{what} URI {uri!r}: {exc}") from exc
    try:
        return Path(uri).read_bytes()
    except OSError as exc:
        raise ModelError(f"{what} path {uri!r}: {exc.strerror or exc}") from exc


def load(uri: str, name: str, *, sha256: str = "", version: str = "1", threads: int = 1) -> OnnxModel:
    """Read, verify and open the model; a ModelError names what is wrong."""
    body = read(uri)
    if sha256:
        actual = hashlib.sha256(body).hexdigest()
        if actual != sha256.lower():
            raise ModelError(f"model {uri!r}: SHA-256 is {actual}, MODEL_SHA256 expects {sha256.lower()}")
    try:
        return OnnxModel(body, name, version, threads)
    except ModelError as exc:
        raise ModelError(f"model {uri!r}: {exc}") from None


def default_name(uri: str) -> str:
    """The served name when MODEL_NAME is not set: the file's stem (``wine.onnx`` -> ``wine``)."""
    return Path(uri.rsplit("/", 1)[-1]).stem or "model"
