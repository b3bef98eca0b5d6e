"""The model server's environment, one mapping for the container (model-serving) and the
EC2 fleets (ha-failover, target-groups): the same settings mean the same server."""

from __future__ import annotations

from modules.config import Settings
from modules.config.model_server import golden_set_uri
from modules.config.serving import served_name
from modules.patterns.exposure import server_auth_environment
from modules.patterns.server_metrics import emf_environment

# The server keeps an idle connection this much longer than the ALB does: the ALB closes
# first, so it never reuses a connection the server has just closed (a 502 to its client).
KEEP_ALIVE_MARGIN_S = 15


def server_environment(settings: Settings, stack: str, service: str, model_uri: str | None = None) -> dict[str, str]:
    """Limits, dynamic batching and keep-alive from ``[model_server]`` and ``[load_balancer]``;
    the golden set of the model the servers load (``model_uri``; None: ``model_server.model_uri``)
    and the prediction metrics; the metrics of ``[server_metrics]``, published as ``service`` (the
    ``Service`` dimension its stack's alarms and scaling read); the JWT settings when ``stack``
    is public."""
    server = settings.model_server
    golden = golden_set_uri(server, model_uri)
    stable = model_uri is None or model_uri == server.model_uri
    return {
        "MODEL_NAME": served_name(settings.serving.model_name, server.model_uri),
        "MAX_BODY_BYTES": str(server.max_body_bytes),
        "MAX_IN_FLIGHT": str(server.max_in_flight),
        # MAX_BATCH_ROWS keeps its name until the server reads one that says per request (max_rows_per_request).
        "MAX_BATCH_ROWS": str(server.max_rows_per_request),
        "MAX_BATCH_SIZE": str(server.max_batch_size),
        "MAX_BATCH_DELAY_MS": str(server.max_batch_delay_ms),
        "INFER_THREADS": str(server.infer_threads),
        "KEEP_ALIVE_S": str(settings.load_balancer.idle_timeout_s + KEEP_ALIVE_MARGIN_S),
        # GOLDEN_URI also tells the role which object to read (the fleets' and the task's policies)
        **({"GOLDEN_URI": golden} if golden else {}),
        **({"GOLDEN_SHA256": server.golden_sha256} if server.golden_sha256 and stable else {}),
        "GOLDEN_REQUIRED": "true" if server.golden_required else "false",
        "PREDICTION_METRICS": "on" if server.prediction_metrics else "off",
        "PREDICTION_KIND": server.prediction_kind,
        "PREDICTION_CLASSES_MAX": str(server.prediction_classes_max),
        "EMF_DISTRIBUTION": settings.server_metrics.distribution,
        **emf_environment(settings, service),
        **server_auth_environment(settings, stack),
    }
