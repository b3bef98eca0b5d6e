"""What the model predicts, in the server's EMF documents (the contract the canary is judged on):
a classifier's rows per class with a cap, a regressor's first output as a distribution, only
successful calls, the kind told from the model's outputs; and the plain-array form."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from model_server import emf, predictions
from model_server.config import Config
from model_server.model import OnnxModel
from model_server.predictions import PredictionError, Predictions, Source, detect

from tests.test_model_server_emf import State, check_emf, identity


def linear(outputs: dict[str, tuple[int, str]], name: str = "m") -> OnnxModel:
    """A model of one FP32 input ``x`` [batch, 2] whose outputs are ``x`` summed into ``width``
    columns, cast to ``datatype`` ("float" or "int64")."""
    from onnx import TensorProto, helper

    nodes, graph_outputs = [], []
    for out, (width, datatype) in outputs.items():
        weight = f"{out}_w"
        nodes.append(helper.make_node("MatMul", ["x", weight], [f"{out}_f"]))
        kind = TensorProto.FLOAT if datatype == "float" else TensorProto.INT64
        nodes.append(helper.make_node("Cast", [f"{out}_f"], [out], to=kind))
        graph_outputs.append(helper.make_tensor_value_info(out, kind, [None, width]))
    weights = [
        helper.make_tensor(f"{out}_w", TensorProto.FLOAT, [2, width], [1.0] * (2 * width))
        for out, (width, _) in outputs.items()
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph(nodes, name, [x], graph_outputs, initializer=weights)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return OnnxModel(onnx_model.SerializeToString(), name)


def taken(predicted: Predictions, window: emf.Window, form: str = emf.VALUES_COUNTS) -> list[dict[str, Any]]:
    """The documents one interval writes, parsed and checked against the EMF specification."""
    state = State()
    state.window = window
    writer = emf.EmfWriter(identity(), 1, emf.StdoutSink(), state, form=form, predicted=predicted)
    docs = [json.loads(line) for line in writer.take().split(b"\n")]
    for doc in docs:
        check_emf(doc)
    return docs


def test_the_kind_is_told_from_the_model_s_outputs_or_set() -> None:
    classifier = linear({"label": (1, "int64"), "probabilities": (3, "float")})  # as skl2onnx exports one
    assert detect(classifier) == Source("classifier", "label")
    assert detect(classifier, "regressor") == Source("regressor", "label")
    scores = linear({"probabilities": (3, "float")})
    assert detect(scores) == Source("classifier", "probabilities", argmax=True)
    regressor = linear({"y": (1, "float")})
    assert detect(regressor) == Source("regressor", "y")
    with pytest.raises(PredictionError, match="PREDICTION_KIND=classifier: the model has no label output"):
        detect(regressor, "classifier")


def test_a_classifier_counts_rows_per_class_with_a_cap_and_zeros_for_classes_seen() -> None:
    predicted = Predictions(Source("classifier", "label"), classes_max=2)
    window = emf.Window(0.0)
    predicted.observe(window, {"label": np.array([3, 3, 1, 2, 3, 0], dtype=np.int64)})
    predicted.observe(window, {"probabilities": np.zeros((2, 3))})  # a call that did not ask for the label
    predicted.observe(window, {"label": np.arange(100, dtype=np.int64) % 4})  # numpy's unique above 64 rows
    docs = taken(predicted, window)
    main, classes = docs[0], docs[1:]
    assert "Predictions" not in main and main["GoldenSetFailed"] == 0
    assert {d["Class"]: d["Predictions"] for d in classes} == {"1": 26, "3": 28, "_other": 52}
    for doc in classes:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Dimensions"] == [["Service", "Model", "Version", "Class"]]
        assert directive["Metrics"] == [{"Name": "Predictions", "Unit": "Count"}]
        assert (doc["Service"], doc["Model"], doc["Version"]) == ("model-server", "wine", "3")
    # the next, idle interval: every class kept by name is written, as zero
    assert {d["Class"]: d["Predictions"] for d in taken(predicted, emf.Window(1.0))[1:]} == {"1": 0, "3": 0}


def test_a_label_that_is_no_dimension_value_is_counted_as_other() -> None:
    predicted = Predictions(Source("classifier", "label"), classes_max=16)
    window = emf.Window(0.0)
    predicted.observe(window, {"label": np.array(["vin rouge", "vin blanc é", " ", "vin rouge"], dtype=np.object_)})
    assert {d["Class"]: d["Predictions"] for d in taken(predicted, window)[1:]} == {"_other": 2, "vin rouge": 2}


def test_scores_alone_give_the_argmax_index() -> None:
    predicted = Predictions(Source("classifier", "probabilities", argmax=True), classes_max=16)
    window = emf.Window(0.0)
    predicted.observe(window, {"probabilities": np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])})
    assert {d["Class"]: d["Predictions"] for d in taken(predicted, window)[1:]} == {"0": 1, "1": 2}


@pytest.mark.parametrize("form", [emf.VALUES_COUNTS, emf.PLAIN_VALUES])
def test_a_regressor_writes_its_first_output_as_a_distribution(form: str) -> None:
    predicted = Predictions(Source("regressor", "y"), classes_max=16)
    window = emf.Window(0.0)
    first = [2.5, -40.0, 0.0, 2.5, 1e-3, 1234.5]
    predicted.observe(window, {"y": np.array([[v, 99.0] for v in first], dtype=np.float32)})
    predicted.observe(window, {"y": np.array([[np.nan, 1.0]], dtype=np.float32)})  # not a number: not counted
    (doc,) = taken(predicted, window, form)
    directives = doc["_aws"]["CloudWatchMetrics"]
    assert directives[2] == {
        "Namespace": "Test/ModelServer",
        "Dimensions": [["Service", "Model", "Version"]],
        "Metrics": [{"Name": "PredictedValue", "Unit": "None"}],
    }
    value = doc["PredictedValue"]
    if form == emf.VALUES_COUNTS:
        observed = [v for v, n in zip(value["Values"], value["Counts"], strict=True) for _ in range(n)]
    else:
        observed = value  # plain observations, as many as there were (at most 100)
    assert len(observed) == len(first)
    for got, want in zip(observed, sorted(first), strict=True):
        assert got == pytest.approx(want, rel=emf.GRID_STEP / 2, abs=1e-12)


def test_the_plain_array_form_keeps_percentiles_within_100_values() -> None:
    latencies = emf.Latencies()
    for ms in range(1, 1001):
        latencies.add(ms / 1000)  # seconds in, milliseconds out
    plain = latencies.plain()
    assert plain is not None and len(plain) == emf.MAX_VALUES
    assert np.percentile(plain, 99) == pytest.approx(990, rel=0.03)
    doc = emf.document(identity(), emf.Window(0.0), 1.0, 0, False, form=emf.PLAIN_VALUES)
    assert "Latency" not in doc, "an idle interval: no empty array"


def test_the_switches_are_read_at_start() -> None:
    config = Config.from_env(
        {"PREDICTION_METRICS": "off", "PREDICTION_KIND": "regressor", "EMF_DISTRIBUTION": "values"}
    )
    assert (config.prediction_metrics, config.prediction_kind, config.emf_distribution) == (
        "off",
        "regressor",
        "values",
    )
    assert (Config().prediction_metrics, Config().prediction_classes_max) == ("on", 16)
    assert predictions.OTHER == "_other"


def test_a_regressor_s_values_get_the_same_keys_one_by_one_and_with_numpy() -> None:
    """A request of a few rows is counted in a loop (cheaper than numpy's fixed cost), a large
    one with numpy: the same value lands on the same grid step either way."""
    few = np.array([2.5, -40.0, 0.0, 1e-3, -1e-3, 1234.5, 3e7, 1e-15, np.nan, np.inf], dtype=np.float32)
    one_by_one, vectorized = emf.Values(), emf.Values()
    one_by_one.add_many(few)
    vectorized.add_many(np.tile(few, 10))
    assert {key: n * 10 for key, n in one_by_one.counts.items()} == vectorized.counts
    assert sum(one_by_one.counts.values()) == 8, "NaN and infinity are not counted"
