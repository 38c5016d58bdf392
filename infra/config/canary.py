"""A canary release of the cloud tier with Argo Rollouts: weights, pauses, and the analysis that aborts a bad one.

`cloud.rollout.strategy: canary` renders the tier as an Argo Rollouts `Rollout` (argoproj.io/v1alpha1, v1.9.1)
instead of a Deployment. Without a traffic router, Argo gives the canary its weight as a share of the replicas, so
the Service spreads requests over both versions; the background analysis judges the canary's own series (by the
`rollouts-pod-template-hash` label Argo puts on its pods) against the stack's SLO, from the first step on, and a
breach aborts the rollout back to the stable version.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.metrics import RATE_WINDOW
from voxdeploy.infra.config.scaling_signal import IN_CLUSTER_PROMETHEUS

ROLLOUT_API = "argoproj.io/v1alpha1"
"""Argo Rollouts' API group and version (its only one, v1.9.1): the Rollout's and the AnalysisTemplate's."""
POD_HASH_LABEL = "rollouts-pod-template-hash"
"""The label Argo Rollouts puts on the pods of each version (pkg/apis/rollouts/v1alpha1/types.go
DefaultRolloutUniqueLabelKey, v1.9.1)."""
HASH_TARGET_LABEL = POD_HASH_LABEL.replace("-", "_")
"""POD_HASH_LABEL as a Prometheus label: the ServiceMonitor's podTargetLabels (prometheus-operator sanitizes label
names to [a-zA-Z0-9_]) and the plain scrape config's relabelling both name it so."""

GO_DURATION = re.compile(r"0|([0-9]+(\.[0-9]+)?(h|m|s|ms))+")
"""What Argo Rollouts parses a pause, interval or initialDelay with: Go's time.ParseDuration (types.go
DurationString.Duration), which has no d, w or y."""


def _go_duration(value: str) -> str:
    if GO_DURATION.fullmatch(value) is None:
        raise ValueError(
            f"{value!r} is not a duration Argo Rollouts reads (Go's time.ParseDuration): a number with h, m, s or ms, "
            "e.g. 10m, 1h30m, 90s; Prometheus' d, w and y are not among them"
        )
    return value


ArgoDuration = Annotated[str, AfterValidator(_go_duration)]


class CanaryStep(StrictModel):
    """Give the canary a weight, then wait (or wait for `kubectl argo rollouts promote` when pause is unset)."""

    set_weight: int = Field(ge=1, le=100, description="Share of the replicas (percent) running the new version.")
    pause: ArgoDuration | None = Field(
        "10m",
        description="How long to hold this weight while the analysis watches (10m, 1h30m); null: until "
        "promoted by hand.",
    )


class CanaryAnalysis(StrictModel):
    """The AnalysisTemplate: the canary's p95 latency, p95 RTF and error ratio against slo:, from Prometheus."""

    prometheus_address: str = Field(
        IN_CLUSTER_PROMETHEUS,
        pattern=r"^https?://\S+$",
        description="Base URL of the Prometheus the Argo Rollouts controller queries.",
    )
    interval: ArgoDuration = Field("1m", description="Time between two measurements of each figure.")
    initial_delay: ArgoDuration = Field(
        RATE_WINDOW,
        description="Wait before the first measurement: the queries' rate window, so they read the canary's own "
        "requests rather than its first seconds.",
    )
    failure_limit: int = Field(
        1, ge=0, le=100, description="Failed measurements a figure may have before the rollout aborts."
    )
    load_test: bool = Field(
        False,
        description="Run the stack's load test (loadtest:, Locust master and workers) as an analysis step right "
        "after the first weight: traffic for the canary to be judged on, and its own verdict.",
    )


class Canary(StrictModel):
    steps: list[CanaryStep] = Field(
        default_factory=lambda: [CanaryStep(set_weight=10), CanaryStep(set_weight=50)],
        min_length=1,
        description="Weights in rising order; after the last step the canary becomes the stable version.",
    )
    analysis: CanaryAnalysis = Field(CanaryAnalysis(), description="What aborts the rollout.")

    @field_validator("steps")
    @classmethod
    def _rising(cls, steps: list[CanaryStep]) -> list[CanaryStep]:
        weights = [step.set_weight for step in steps]
        if weights != sorted(set(weights)):
            raise ValueError(f"setWeight values must rise step by step, got {weights}")
        return steps
