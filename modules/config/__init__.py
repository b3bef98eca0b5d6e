"""Settings: one frozen pydantic model per section, loaded from defaults < TOML file < environment.

Construct-free: nothing here imports cdktf, constructs, the provider, the blocks or the
architectures.
"""

from modules.config.event_processing import EventProcessingSettings
from modules.config.fleet import FleetSettings
from modules.config.ha_failover import HaFailoverSettings
from modules.config.load_balancer import LoadBalancerSettings
from modules.config.network import NetworkSettings
from modules.config.serving import ServingSettings
from modules.config.settings import Settings, SettingsError, load_settings
from modules.config.sources import env_var
from modules.config.state import StateSettings
from modules.config.stream import StreamSettings
from modules.config.table import settings_table
from modules.config.target_groups import TargetGroupsSettings
from modules.config.tooling import ToolingSettings

__all__ = [
    "EventProcessingSettings",
    "FleetSettings",
    "HaFailoverSettings",
    "LoadBalancerSettings",
    "NetworkSettings",
    "ServingSettings",
    "Settings",
    "SettingsError",
    "StateSettings",
    "StreamSettings",
    "TargetGroupsSettings",
    "ToolingSettings",
    "env_var",
    "load_settings",
    "settings_table",
]
