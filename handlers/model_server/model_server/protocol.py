"""The Open Inference Protocol (KServe V2) inference request and response, REST form.

A request body is the JSON tensor format, or the binary tensor extension (a JSON header of
``Inference-Header-Content-Length`` bytes, then each tensor's raw little-endian bytes, as
Triton's and its client's ``binary_data``). ``parse`` checks it against the model's own
metadata and raises ``ProtocolError`` naming the first problem; ``encode`` writes the answer.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from model_server.model import Array, OnnxModel, TensorSpec

HEADER_LENGTH = "inference-header-content-length"
_NUMBER = frozenset((int, float))
_INTEGER = frozenset((int,))


class ProtocolError(ValueError):
    """A request the model cannot take; the message names what is wrong (answered 4xx)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class InferRequest:
    inputs: dict[str, Array]
    outputs: list[str]  # requested, in order; all of the model's when none were named
    binary_outputs: set[str] = field(default_factory=set)
    id: str | None = None
    rows: int = 0  # the first dimension, shared by every input of a batchable model

    def batch_key(self) -> tuple[Any, ...]:
        """Requests with equal keys can be stacked into one call."""
        return (tuple(self.outputs), tuple((k, v.shape[1:]) for k, v in self.inputs.items()))


def parse(body: bytes, header_length: str | None, model: OnnxModel, max_rows: int) -> InferRequest:
    """A checked request; ``header_length`` is the Inference-Header-Content-Length header."""
    binary = b""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise ProtocolError(f"Inference-Header-Content-Length {header_length!r} is not an integer") from None
        if not 0 < n <= len(body):
            raise ProtocolError(f"Inference-Header-Content-Length {n} is outside the body's {len(body)} bytes")
        body, binary = body[:n], body[n:]
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ProtocolError("body must be a JSON object with an 'inputs' list")
    unknown = sorted(set(doc) - {"id", "parameters", "inputs", "outputs"})
    if unknown:
        raise ProtocolError(f"unknown field(s): {', '.join(unknown)}")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("'id' must be a string")
    params = _parameters(doc, "request")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ProtocolError("'inputs' must be a non-empty list of tensors")
    tensors: dict[str, Array] = {}
    offset = 0
    for i, tensor in enumerate(inputs):
        array, used = _input(tensor, i, model, binary, offset)
        offset += used
        name = tensor["name"]
        if name in tensors:
            raise ProtocolError(f"input {name!r} given twice")
        tensors[name] = array
    if offset != len(binary):
        raise ProtocolError(f"{len(binary) - offset} bytes after the binary tensors are not claimed by any input")
    missing = [s.name for s in model.inputs if s.name not in tensors]
    if missing:
        raise ProtocolError(f"missing input(s) {', '.join(map(repr, missing))}; the model takes {_names(model.inputs)}")
    rows = 0
    if model.batchable:
        first_dims = {a.shape[0] for a in tensors.values()}
        if len(first_dims) != 1:
            raise ProtocolError(f"inputs disagree on the batch (first) dimension: {sorted(first_dims)}")
        rows = first_dims.pop()
        if rows > max_rows:
            raise ProtocolError(f"batch of {rows} rows; at most {max_rows} per request")
    outputs, binary_outputs = _requested(doc, model, bool(params.get("binary_data_output")))
    return InferRequest(tensors, outputs, binary_outputs, request_id, rows)


def _parameters(doc: Mapping[str, Any], what: str) -> dict[str, Any]:
    params = doc.get("parameters", {})
    if not isinstance(params, dict):
        raise ProtocolError(f"{what} 'parameters' must be an object")
    return params


def _names(specs: tuple[TensorSpec, ...]) -> str:
    return ", ".join(f"{s.name!r} ({s.datatype} {list(s.shape)})" for s in specs)


def _input(tensor: Any, i: int, model: OnnxModel, binary: bytes, offset: int) -> tuple[Array, int]:
    """The array of ``inputs[i]`` and the binary bytes it used."""
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise ProtocolError(f"inputs[{i}] must be an object with a 'name'")
    name = tensor["name"]
    spec = model.input_by_name.get(name)
    if spec is None:
        raise ProtocolError(f"inputs[{i}]: no input named {name!r}; the model takes {_names(model.inputs)}")
    unknown = sorted(set(tensor) - {"name", "shape", "datatype", "parameters", "data"})
    if unknown:
        raise ProtocolError(f"input {name!r}: unknown field(s) {', '.join(unknown)}")
    datatype = tensor.get("datatype")
    if datatype != spec.datatype:
        raise ProtocolError(f"input {name!r}: datatype {datatype!r}; the model takes {spec.datatype}")
    shape = tensor.get("shape")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise ProtocolError(f"input {name!r}: 'shape' must be a list of non-negative integers")
    if len(shape) != len(spec.shape) or any(want not in (-1, got) for want, got in zip(spec.shape, shape, strict=True)):
        raise ProtocolError(f"input {name!r}: shape {shape}; the model takes {list(spec.shape)} (-1: any size)")
    count = math.prod(shape)
    size = _parameters(tensor, f"input {name!r}").get("binary_data_size")
    if size is not None:
        if "data" in tensor:
            raise ProtocolError(f"input {name!r}: both 'data' and binary_data_size")
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise ProtocolError(f"input {name!r}: binary_data_size {size!r} is beyond the body")
        return _from_binary(name, spec, shape, count, binary[offset : offset + size]), size
    if "data" not in tensor:
        raise ProtocolError(f"input {name!r}: no 'data' (and no binary_data_size)")
    return _from_json(name, spec, shape, count, tensor["data"]), 0


def _flat(data: Any) -> list[Any]:
    if isinstance(data, list) and data and isinstance(data[0], list):
        out: list[Any] = []
        for item in data:
            out.extend(_flat(item) if isinstance(item, list) else [item])
        return out
    return data if isinstance(data, list) else [data]


def _from_json(name: str, spec: TensorSpec, shape: list[int], count: int, data: Any) -> Array:
    values = _flat(data)
    if len(values) != count:
        raise ProtocolError(f"input {name!r}: {len(values)} values in 'data'; shape {shape} holds {count}")
    kinds = set(map(type, values))
    if spec.datatype == "BYTES":
        if not kinds <= {str}:
            raise ProtocolError(f"input {name!r}: BYTES data must be strings")
        return np.array(values, dtype=np.object_).reshape(shape)
    if spec.datatype == "BOOL":
        if not kinds <= {bool}:
            raise ProtocolError(f"input {name!r}: BOOL data must be true or false")
        return np.array(values, dtype=np.bool_).reshape(shape)
    allowed = _NUMBER if spec.datatype.startswith("FP") else _INTEGER
    if not kinds <= allowed:  # bool is an int subclass, but not the same type
        bad = next(v for v in values if type(v) not in allowed)
        kind = "numbers" if allowed is _NUMBER else "integers"
        raise ProtocolError(f"input {name!r}: {spec.datatype} data must be {kind}, got {bad!r}")
    try:
        with np.errstate(over="raise", invalid="raise"):
            array = np.array(values, dtype=spec.dtype)
    except (OverflowError, FloatingPointError, ValueError):
        array = None
    if array is None or (spec.datatype.startswith("FP") and not np.isfinite(array).all()):
        raise ProtocolError(f"input {name!r}: a value is outside the range of {spec.datatype}")
    return array.reshape(shape)


def _from_binary(name: str, spec: TensorSpec, shape: list[int], count: int, raw: bytes) -> Array:
    if spec.datatype == "BYTES":
        items: list[str] = []
        pos = 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise ProtocolError(f"input {name!r}: truncated BYTES element")
            (n,) = struct.unpack_from("<I", raw, pos)
            items.append(raw[pos + 4 : pos + 4 + n].decode("utf-8", "replace"))
            pos += 4 + n
        if len(items) != count or pos != len(raw):
            raise ProtocolError(f"input {name!r}: {len(items)} BYTES elements; shape {shape} holds {count}")
        return np.array(items, dtype=np.object_).reshape(shape)
    dtype = np.dtype(spec.dtype).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise ProtocolError(
            f"input {name!r}: {len(raw)} binary bytes; shape {shape} of {spec.datatype} takes {count * dtype.itemsize}"
        )
    array = np.frombuffer(raw, dtype=dtype).astype(spec.dtype, copy=False).reshape(shape)
    if spec.datatype.startswith("FP") and not np.isfinite(array).all():
        raise ProtocolError(f"input {name!r}: values must be finite")
    return array


def _requested(doc: Mapping[str, Any], model: OnnxModel, all_binary: bool) -> tuple[list[str], set[str]]:
    wanted = doc.get("outputs")
    if wanted is None:
        names = [s.name for s in model.outputs]
        return names, set(names) if all_binary else set()
    if not isinstance(wanted, list) or not wanted:
        raise ProtocolError("'outputs' must be a non-empty list of {'name': ...} objects")
    names, binary = [], set()
    for i, item in enumerate(wanted):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ProtocolError(f"outputs[{i}] must be an object with a 'name'")
        if item["name"] not in model.output_by_name:
            raise ProtocolError(
                f"outputs[{i}]: no output named {item['name']!r}; the model gives {_names(model.outputs)}"
            )
        params = _parameters(item, f"output {item['name']!r}")
        if params.get("classification"):
            raise ProtocolError(f"output {item['name']!r}: the classification extension is not supported")
        names.append(item["name"])
        if params.get("binary_data", all_binary):
            binary.add(item["name"])
    return names, binary


def encode(model: OnnxModel, request: InferRequest, results: Mapping[str, Array]) -> tuple[bytes, dict[str, str]]:
    """The response body and its extra headers (binary outputs follow the JSON header)."""
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name in request.outputs:
        array = results[name]
        spec = model.output_by_name[name]
        out: dict[str, Any] = {"name": name, "datatype": spec.datatype, "shape": list(array.shape)}
        if name in request.binary_outputs:
            raw = _to_binary(array, spec)
            out["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif spec.datatype == "BYTES":
            out["data"] = [v.decode() if isinstance(v, bytes) else str(v) for v in array.ravel().tolist()]
        elif spec.datatype == "FP16":
            out["data"] = array.astype(np.float32).ravel()
        else:
            out["data"] = np.ascontiguousarray(array).ravel()
        outputs.append(out)
    doc: dict[str, Any] = {"model_name": model.name, "model_version": model.version, "outputs": outputs}
    if request.id is not None:
        doc["id"] = request.id
    head = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return head, {}
    return b"".join(itertools.chain((head,), chunks)), {"Inference-Header-Content-Length": str(len(head))}


def _to_binary(array: Array, spec: TensorSpec) -> bytes:
    if spec.datatype == "BYTES":
        parts = []
        for v in array.ravel().tolist():
            b = v if isinstance(v, bytes) else str(v).encode()
            parts.append(struct.pack("<I", len(b)) + b)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=np.dtype(spec.dtype).newbyteorder("<")).tobytes()
