"""Settings: one frozen pydantic model per section, loaded from defaults < TOML file < environment.

Construct-free: nothing here imports cdktf, constructs, the provider or the blocks. The
settings root is imported on first use (``Settings``, ``load_settings``...): it imports the
settings modules of the registered stacks (:mod:`modules.registry`), and they import this
package's checks, so importing it here, eagerly, would be a cycle.
"""

import importlib
from typing import TYPE_CHECKING, Any

from modules.config.chaos import ChaosSettings
from modules.config.fleet import FleetSettings
from modules.config.ha_failover import HaFailoverSettings
from modules.config.load_balancer import LoadBalancerSettings
from modules.config.model_server import ModelServerSettings
from modules.config.network import NetworkSettings
from modules.config.server_metrics import ServerMetricsSettings
from modules.config.serving import ServingSettings
from modules.config.sources import env_var
from modules.config.state import StateSettings
from modules.config.tooling import ToolingSettings

if TYPE_CHECKING:
    from modules.config.settings import Settings, SettingsError, load_settings
    from modules.config.table import settings_table

_ON_FIRST_USE = {
    "Settings": "modules.config.settings",
    "SettingsError": "modules.config.settings",
    "load_settings": "modules.config.settings",
    "settings_table": "modules.config.table",
}


def __getattr__(name: str) -> Any:
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ChaosSettings",
    "FleetSettings",
    "HaFailoverSettings",
    "LoadBalancerSettings",
    "ModelServerSettings",
    "NetworkSettings",
    "ServerMetricsSettings",
    "ServingSettings",
    "Settings",
    "SettingsError",
    "StateSettings",
    "ToolingSettings",
    "env_var",
    "load_settings",
    "settings_table",
]
