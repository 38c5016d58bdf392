"""What `voxdeploy serve --router` reads (a contract: the hybrid stack's builders write it into a ConfigMap).

The policy is the reference article's orchestrator, with its thresholds as config.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.runtime import RuntimeServer, SpeechLimits

Tier = Literal["edge", "fog", "cloud"]
TIERS: tuple[Tier, ...] = ("edge", "fog", "cloud")


class RoutingPolicy(StrictModel):
    """Which tier a request goes to first, and where it falls back."""

    edge_max_chars: int = Field(
        100, ge=1, description="Text shorter than this with a tight latency budget goes to edge."
    )
    edge_latency_budget_ms: int = Field(
        500, ge=1, description="A latency budget below this (X-Latency-Budget-Ms header) counts as tight."
    )
    fog_max_chars: int = Field(1000, ge=1, description="Text shorter than this (and not edge-bound) goes to fog.")
    high_quality_to_cloud: bool = Field(True, description="X-Quality: high sends a request to the cloud tier.")
    fallback: dict[Tier, list[Tier]] = Field(
        {"edge": ["fog", "cloud"], "fog": ["cloud", "edge"], "cloud": ["fog", "edge"]},
        description="Tiers tried, in order, when the chosen one is down, saturated (429/503) or fails.",
    )


class HealthChecking(StrictModel):
    """Active checks of every endpoint and passive ejection of those that fail requests."""

    interval_seconds: float = Field(2.0, gt=0, description="Seconds between /ready checks of each endpoint.")
    timeout_seconds: float = Field(1.0, gt=0, description="Timeout of one check.")
    eject_after_failures: int = Field(3, ge=1, description="Consecutive request failures that eject an endpoint.")
    ejection_seconds: float = Field(30.0, gt=0, description="How long an ejected endpoint gets no traffic.")


class RouterBehaviour(StrictModel):
    """How the router routes, checks and limits: the part a hybrid stack sets and the router pods read."""

    policy: RoutingPolicy = Field(RoutingPolicy(), description="Routing thresholds and fallbacks.")
    health: HealthChecking = Field(HealthChecking(), description="Endpoint health checking.")
    tier_timeout_seconds: dict[Tier, float] = Field(
        {"edge": 30.0, "fog": 60.0, "cloud": 300.0}, description="Timeout of a forwarded request, per tier."
    )
    server: RuntimeServer = Field(
        RuntimeServer(max_concurrent_requests=256, max_queued_requests=512, request_timeout_seconds=360),
        description="The router's own admission limits and timeout; the timeout must outlast every tier's, or a "
        "slow tier can't fall back.",
    )
    speech: SpeechLimits = Field(
        SpeechLimits(), description="Per-request limits the router enforces before forwarding (body size first)."
    )


class RouterSettings(RouterBehaviour):
    """What `voxdeploy serve --router` reads: the behaviour with every tier's endpoints resolved to URLs."""

    endpoints: dict[Tier, list[str]] = Field(..., description="Base URLs per tier (at least one tier).")
    host: str = Field("0.0.0.0", description="Address to listen on.")
