"""The model server through the unmodified Triton HTTP client (PyPI ``tritonclient[http]``):
the Open Inference Protocol as a third party speaks it. Health, metadata, inference on
float32 batches (JSON and binary tensors) equal to onnxruntime in-process, a wrong shape
or datatype refused with a 4xx naming it, and a model of another family (a random forest
this test exports) served the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tools.harness.model_server_process import ModelServerProcess, train_default_model

pytestmark = pytest.mark.slow  # starts server processes


@pytest.fixture(scope="module")
def wine_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_default_model(tmp_path_factory.mktemp("model") / "wine.onnx")


@pytest.fixture(scope="module")
def server(wine_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerProcess]:
    with ModelServerProcess(str(wine_path), {}, tmp_path_factory.mktemp("s") / "server.log") as srv:
        yield srv


def client(server: ModelServerProcess) -> Any:
    import tritonclient.http as httpclient

    return httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}", concurrency=1)


def in_process(path: Path, x: Any) -> list[Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return list(session.run(None, {session.get_inputs()[0].name: x}))


def infer(triton: Any, model: str, x: Any, binary: bool, datatype: str = "FP32") -> Any:
    import tritonclient.http as httpclient

    tensor = httpclient.InferInput("input", list(x.shape), datatype)
    tensor.set_data_from_numpy(x, binary_data=binary)
    wanted = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")]
    return triton.infer(model, [tensor], outputs=wanted)


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_triton_client_health_metadata_and_inference(server: ModelServerProcess, wine_path: Path, binary: bool) -> None:
    from sklearn.datasets import load_wine

    triton = client(server)
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("wine") and triton.is_model_ready("wine", "1")
    assert not triton.is_model_ready("nope")
    meta = triton.get_model_metadata("wine")
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 13]}]
    assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]
    assert "binary_tensor_data" in triton.get_server_metadata()["extensions"]
    x = load_wine().data.astype(np.float32)
    for rows in (1, 8, 64, 178):
        result = infer(triton, "wine", x[:rows], binary)
        label, proba = in_process(wine_path, x[:rows])
        assert result.as_numpy("label").tolist() == label.tolist()
        assert np.allclose(result.as_numpy("probabilities"), proba, atol=1e-6)
        assert result.get_response()["model_name"] == "wine"
    triton.close()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_triton_client_gets_a_4xx_naming_a_wrong_shape_or_datatype(server: ModelServerProcess, binary: bool) -> None:
    from tritonclient.utils import InferenceServerException

    triton = client(server)
    with pytest.raises(InferenceServerException) as shape:
        infer(triton, "wine", np.zeros((2, 12), dtype=np.float32), binary)
    assert "shape [2, 12]; the model takes [-1, 13]" in str(shape.value.message())
    assert shape.value.status() == "400"
    with pytest.raises(InferenceServerException) as datatype:
        infer(triton, "wine", np.zeros((2, 13), dtype=np.float64), binary, "FP64")
    assert "datatype 'FP64'; the model takes FP32" in str(datatype.value.message())
    assert datatype.value.status() == "400"
    with pytest.raises(InferenceServerException, match="unknown model 'nope'"):
        infer(triton, "nope", np.zeros((1, 13), dtype=np.float32), binary)
    triton.close()


def test_a_random_forest_of_another_dataset_is_served_like_any_onnx_model(tmp_path: Path) -> None:
    """Another family (trees, not a linear model) and another shape (30 features, 2
    classes): the server learns both from the model's metadata."""
    import tritonclient.http as httpclient
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    data = load_breast_cancer()
    x = data.data.astype(np.float32)
    forest = RandomForestClassifier(n_estimators=25, max_depth=6, random_state=0).fit(x, data.target)
    onx = to_onnx(forest, x[:1], target_opset=17, options={id(forest): {"zipmap": False}})
    path = tmp_path / "forest.onnx"
    path.write_bytes(onx.SerializeToString())
    names = [o.name for o in onx.graph.output]
    input_name = onx.graph.input[0].name
    with ModelServerProcess(str(path), {"MODEL_NAME": "cancer-forest"}, tmp_path / "server.log") as srv:
        triton = client(srv)
        meta = triton.get_model_metadata("cancer-forest")
        assert meta["inputs"] == [{"name": input_name, "datatype": "FP32", "shape": [-1, 30]}]
        tensor = httpclient.InferInput(input_name, [100, 30], "FP32")
        tensor.set_data_from_numpy(x[:100], binary_data=False)
        result = triton.infer("cancer-forest", [tensor], outputs=[httpclient.InferRequestedOutput(n) for n in names])
        expected = in_process(path, x[:100])
        assert result.as_numpy(names[0]).tolist() == expected[0].tolist()
        assert np.allclose(result.as_numpy(names[1]), expected[1], atol=1e-6)
        assert (result.as_numpy(names[0]) == forest.predict(x[:100])).mean() == 1.0
        triton.close()
