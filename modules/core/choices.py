"""The fixed choices (Literal types) a setting and the block props it maps to share, defined once."""

from __future__ import annotations

from typing import Literal

NatMode = Literal["per_az", "shared", "none"]
SpotAllocation = Literal["capacity-optimized", "price-capacity-optimized"]
