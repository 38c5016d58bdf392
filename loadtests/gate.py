"""The release gate: each SLO target of a stack against what a run measured."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from voxdeploy.contracts.slo import SloTargets
from voxdeploy.loadtests.results import Measured


class Verdict(BaseModel):
    """One target: its name in the stack file, the bound, the measured value and the outcome."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(description="Key under slo: in the stack file.")
    description: str
    comparison: Literal[">=", "<="]
    threshold: float
    measured: float | None = Field(description="None when nothing could be measured (e.g. no successful request).")
    passed: bool


def _check(
    target: str, description: str, comparison: Literal[">=", "<="], threshold: float, measured: float | None
) -> Verdict:
    if measured is None:
        passed = False
    elif comparison == ">=":
        passed = measured >= threshold
    else:
        passed = measured <= threshold
    return Verdict(
        target=target,
        description=description,
        comparison=comparison,
        threshold=threshold,
        measured=measured,
        passed=passed,
    )


def judge(slo: SloTargets, measured: Measured) -> list[Verdict]:
    """Every target, in the order of the stack file's slo: section."""
    return [
        _check("minQps", "successful requests per second", ">=", slo.min_qps, measured.qps),
        _check("p95LatencySeconds", "95th percentile latency (s)", "<=", slo.p95_latency_seconds, measured.latency_p95),
        _check("p95Rtf", "95th percentile real-time factor", "<=", slo.p95_rtf, measured.rtf_p95),
        _check("maxErrorRatio", "failed / all requests", "<=", slo.max_error_ratio, measured.error_ratio),
    ]
