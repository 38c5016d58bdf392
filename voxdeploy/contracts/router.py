"""What `voxdeploy serve --router` reads (a contract: the hybrid stack's builders write it into a ConfigMap).

The policy is the reference article's orchestrator, with its thresholds as config.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from voxdeploy.contracts.auth import ApiKeys
from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.runtime import RuntimeServer, SpeechLimits
from voxdeploy.contracts.voices import DEFAULT_VOICE, OPENAI_VOICES

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
    plain_voices: list[str] = Field(
        [DEFAULT_VOICE, *OPENAI_VOICES],
        description="Voice names that mean the model's own voice (`default` and the names the stack's voices.aliases "
        "map to it, which a stack's router gets unless this is set). Any other voice is a library voice (a clone, a "
        "design or a LoRA voice) and goes to the cloud tier, as cloning and voice design do.",
    )
    fallback: dict[Tier, list[Tier]] = Field(
        {"edge": ["fog", "cloud"], "fog": ["cloud", "edge"], "cloud": ["fog", "edge"]},
        description="Tiers tried, in order, when the chosen one is down, saturated (429/503) or fails.",
    )


class HealthChecking(StrictModel):
    """Active checks of every endpoint and passive ejection of those that fail requests."""

    interval_seconds: float = Field(2.0, gt=0, description="Seconds between /ready checks of each endpoint.")
    timeout_seconds: float = Field(1.0, gt=0, description="Timeout of one check.")
    eject_after_failures: int = Field(
        3,
        ge=1,
        description="Consecutive failed requests that eject an endpoint. A failure counts only if the request cannot "
        "be to blame: it could not connect or the endpoint hung, or another endpoint then served the same request "
        "(a 4xx, or a 5xx the request gets everywhere, is the request's fault).",
    )
    ejection_seconds: float = Field(30.0, gt=0, description="How long an ejected endpoint gets no traffic.")
    max_ejection_percent: int = Field(
        10,
        ge=0,
        le=100,
        description="Most of a tier's endpoints ejected at once, in percent (rounded down); one may always be, as in "
        "Envoy's outlier detection, but never the tier's last endpoint that gets traffic.",
    )


class RouterBehaviour(StrictModel):
    """How the router routes, checks and limits: the part a hybrid stack sets and the router pods read."""

    policy: RoutingPolicy = Field(RoutingPolicy(), description="Routing thresholds and fallbacks.")
    health: HealthChecking = Field(HealthChecking(), description="Endpoint health checking.")
    tier_timeout_seconds: dict[Tier, float] = Field(
        {"edge": 30.0, "fog": 60.0, "cloud": 300.0},
        description="Timeout of a forwarded request, per tier: the longest wait for its answer or for each part of it.",
    )
    connect_timeout_seconds: float = Field(
        2.0, gt=0, description="Time to connect to an endpoint; past it the request moves on to the next endpoint."
    )
    first_byte_timeout_seconds: float = Field(
        5.0,
        gt=0,
        validate_default=True,
        description="How long the router waits for an endpoint's response headers while the endpoint shows no sign "
        "of life (its health checks go unanswered too); then it is hung and the request moves on to the next "
        "endpoint or tier. One that answers its checks is busy, not hung, and keeps the request up to the tier's "
        "timeout: a whole-file answer's headers come only after synthesis. Must exceed health.intervalSeconds + "
        "health.timeoutSeconds.",
    )
    server: RuntimeServer = Field(
        RuntimeServer(max_concurrent_requests=256, max_queued_requests=512, request_timeout_seconds=360),
        description="The router's own admission limits and timeout; the timeout must outlast every tier's, or a "
        "slow tier can't fall back.",
    )
    speech: SpeechLimits = Field(
        SpeechLimits(), description="Per-request limits the router enforces before forwarding (body size first)."
    )

    @field_validator("first_byte_timeout_seconds")
    @classmethod
    def _outlasts_a_quiet_spell(cls, value: float, info: ValidationInfo) -> float:
        """A live endpoint answers a check at least every interval + check timeout; a shorter first-byte wait
        would take a live endpoint's long synthesis for a hang. (Checked here, at the field, so that an error
        names it; `health` comes first and is validated already.)"""
        health = info.data.get("health")
        if isinstance(health, HealthChecking) and value <= health.interval_seconds + health.timeout_seconds:
            quiet = health.interval_seconds + health.timeout_seconds
            raise ValueError(
                f"must exceed health.intervalSeconds + health.timeoutSeconds ({quiet:g} s): a live endpoint may "
                "answer no check for that long"
            )
        return value


class RouterSettings(RouterBehaviour):
    """What `voxdeploy serve --router` reads: the behaviour with every tier's endpoints resolved to URLs."""

    endpoints: dict[Tier, list[str]] = Field(..., description="Base URLs per tier (at least one tier).")
    host: str = Field("0.0.0.0", description="Address to listen on.")
    auth: ApiKeys | None = Field(
        None, description="API keys callers need, as a runtime's (unset: open, and the router says so at start)."
    )
    upstream_key: str | None = Field(
        None,
        min_length=1,
        description="File holding the router's own key, sent to every tier as `Authorization: Bearer` with the "
        "caller's key name in X-Voxdeploy-Caller (the tiers list this key among their forwarders); re-read when it "
        "changes. Unset: tiers are called without a key.",
    )
