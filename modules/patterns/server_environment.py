"""The model server's environment, one mapping for the container (model-serving) and the
EC2 fleets (ha-failover, target-groups): the same settings mean the same server."""

from __future__ import annotations

from modules.config import Settings
from modules.config.serving import served_name
from modules.patterns.exposure import server_auth_environment
from modules.patterns.server_metrics import emf_environment

# The server keeps an idle connection this much longer than the ALB does: the ALB closes
# first, so it never reuses a connection the server has just closed (a 502 to its client).
KEEP_ALIVE_MARGIN_S = 15


def server_environment(settings: Settings, stack: str, service: str) -> dict[str, str]:
    """Limits, dynamic batching and keep-alive from ``[model_server]`` and ``[load_balancer]``;
    the metrics of ``[server_metrics]``, published as ``service`` (the ``Service`` dimension
    its stack's alarms and scaling read); the JWT settings when ``stack`` is public."""
    server = settings.model_server
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
        **emf_environment(settings, service),
        **server_auth_environment(settings, stack),
    }
