"""The release targets: what the load-test gate checks and what the alerts page on (one truth for both)."""

from __future__ import annotations

from pydantic import Field

from voxdeploy.contracts.base import StrictModel


class SloTargets(StrictModel):
    """What the load-test gate checks before a release (voxdeploy.loadtests)."""

    min_qps: float = Field(1.0, ge=0, description="Successful requests per second the service must sustain.")
    p95_latency_seconds: float = Field(2.0, gt=0, description="95th percentile end-to-end request latency.")
    p95_rtf: float = Field(0.5, gt=0, description="95th percentile real-time factor (synthesis time / audio duration).")
    max_error_ratio: float = Field(0.01, ge=0, le=1, description="Largest tolerated share of failed requests.")
