"""Settings that moved to another section or got a clearer name: the old names keep working,
with a deprecation message naming the new setting, until they are removed.

An old name is read in the settings file (``[section] key``) and as its ``RAI_`` variable, and
sets every new setting it became (``load_balancer.healthy_threshold`` was read by two stacks:
it sets the setting of each). The old name and the new one given together, in any source, are
refused: which one wins would be a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

# The server's own settings that left [serving] for [model_server] under the same name.
_SERVER_KEYS = (
    "model_uri",
    "model_sha256",
    "max_body_bytes",
    "max_in_flight",
    "max_batch_size",
    "max_batch_delay_ms",
    "infer_threads",
)


@dataclass(frozen=True)
class Renamed:
    """``old`` (section, key; section ``""`` for a top-level key) is now ``new``: one setting or
    more, each (section, key)."""

    old: tuple[str, str]
    new: tuple[tuple[str, str], ...]

    @property
    def old_name(self) -> str:
        """The old setting, dotted (a top-level key alone), for a message."""
        return ".".join(part for part in self.old if part)

    @property
    def new_names(self) -> str:
        """The new settings, dotted, for a message."""
        return " and ".join(".".join(path) for path in self.new)


RENAMED: tuple[Renamed, ...] = (
    Renamed(("load_balancer", "health_check_interval_s"), (("serving", "health_check_interval_s"),)),
    Renamed(
        ("load_balancer", "healthy_threshold"),
        (("serving", "healthy_threshold"), ("ha_failover", "healthy_threshold")),
    ),
    Renamed(("load_balancer", "unhealthy_threshold"), (("serving", "unhealthy_threshold"),)),
    *(Renamed(("serving", key), (("model_server", key),)) for key in _SERVER_KEYS),
    Renamed(("serving", "max_batch_rows"), (("model_server", "max_rows_per_request"),)),
    # One address, now one of a list: a string is read as a list of one.
    Renamed(("", "alarm_email"), (("alarms", "emails"),)),
)
