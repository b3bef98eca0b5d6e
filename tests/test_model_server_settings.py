"""The model server's golden set and prediction metrics as settings: what the stacks pass to
the servers, and what the servers' roles may read; the namespace refused at synth as
CloudWatch would refuse it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modules.config import SettingsError
from modules.config.model_server import golden_beside, golden_set_uri
from modules.patterns.server_environment import server_environment
from tests.conftest import StackDoc, settings_from
from tests.test_server_metrics import task_env, template_env


def test_the_servers_check_their_golden_set_and_write_prediction_metrics_by_default(
    stacks: dict[str, StackDoc],
) -> None:
    env = task_env(stacks["model-serving"])
    assert (env["GOLDEN_REQUIRED"], env["PREDICTION_METRICS"], env["PREDICTION_KIND"]) == ("true", "on", "auto")
    assert (env["PREDICTION_CLASSES_MAX"], env["EMF_DISTRIBUTION"]) == ("16", "values_counts")
    assert "GOLDEN_URI" not in env, "the bundled model's set is beside it in the image"
    fleet = template_env(stacks["target-groups"], "site/canary/")
    assert fleet["GOLDEN_REQUIRED"] == "true" and "GOLDEN_URI" not in fleet


def test_a_canary_of_another_model_checks_that_model_s_own_golden_set(fleet_variant: dict[str, StackDoc]) -> None:
    doc = fleet_variant["target-groups"]

    def reads(group: str) -> list[Any]:
        policies = [p for k, p in doc["resource"]["aws_iam_role_policy"].items() if f"{group}_template" in k]
        statements = [st for p in policies for st in json.loads(p["policy"])["Statement"]]
        return [st["Resource"] for st in statements if st.get("Sid") == "ReadTheGoldenSet"]

    assert template_env(doc, "site/canary/")["GOLDEN_URI"] == "s3://acme-models/wine/v2.golden.json"
    assert reads("canary") == ["arn:aws:s3:::acme-models/wine/v2.golden.json"]
    assert reads("stable") == [] and "GOLDEN_URI" not in template_env(doc, "site/stable/")


def test_an_explicit_golden_set_and_its_pin_belong_to_model_server_model_uri_alone() -> None:
    settings = settings_from(
        {
            "RAI_MODEL_SERVER_MODEL_URI": "s3://acme-models/wine/v1.onnx",
            "RAI_MODEL_SERVER_GOLDEN_URI": "s3://acme-models/golden/wine-v1.json",
            "RAI_MODEL_SERVER_GOLDEN_SHA256": "ab" * 32,
            "RAI_MODEL_SERVER_PREDICTION_METRICS": "false",
            "RAI_SERVER_METRICS_DISTRIBUTION": "values",
        }
    )
    stable = server_environment(settings, "target-groups", "svc")
    assert (stable["GOLDEN_URI"], stable["GOLDEN_SHA256"]) == ("s3://acme-models/golden/wine-v1.json", "ab" * 32)
    assert (stable["PREDICTION_METRICS"], stable["EMF_DISTRIBUTION"]) == ("off", "values")
    canary = server_environment(settings, "target-groups", "svc-canary", "s3://acme-models/wine/v2.onnx")
    assert canary["GOLDEN_URI"] == "s3://acme-models/wine/v2.golden.json" and "GOLDEN_SHA256" not in canary
    assert golden_beside("/opt/models/wine.onnx") == "/opt/models/wine.golden.json"
    assert golden_set_uri(settings_from().model_server) == ""


def test_bad_golden_and_prediction_settings_and_a_namespace_cloudwatch_refuses_are_named() -> None:
    with pytest.raises(SettingsError) as refused:
        settings_from(
            {
                "RAI_MODEL_SERVER_GOLDEN_URI": "s3://acme-models/golden/*",
                "RAI_MODEL_SERVER_GOLDEN_SHA256": "xyz",
                "RAI_MODEL_SERVER_PREDICTION_KIND": "ranker",
                "RAI_MODEL_SERVER_PREDICTION_CLASSES_MAX": "0",
                "RAI_SERVER_METRICS_NAMESPACE": ":Team/Models",
                "RAI_SERVER_METRICS_DISTRIBUTION": "histogram",
            }
        )
    text = str(refused.value)
    for name in ("golden_uri", "golden_sha256", "prediction_kind", "prediction_classes_max", "distribution"):
        assert name in text, name
    assert "namespace not starting with ':'" in text
    with pytest.raises(SettingsError, match=r"server_metrics\.namespace"):
        settings_from({"RAI_SERVER_METRICS_NAMESPACE": "   "})
