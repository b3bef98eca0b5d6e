"""Literal kinds shared by the settings and the blocks, defined once (no constructs here)."""

from __future__ import annotations

from typing import Literal

NatMode = Literal["per_az", "shared", "none"]
SpotAllocation = Literal["capacity-optimized", "price-capacity-optimized"]
