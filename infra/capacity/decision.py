"""The reference article's decision table as a function: a scenario's targets in, a deployment mode out.

The table lists scenarios, not rules; these are the rules it implies. Offline use needs the model on the
device, and edge devices reach RTF 1.5 at best (the article's edge table), so anything faster offline
needs the hybrid. Batch work tolerates queues, which batching turns into throughput. Interactive load
goes to the vLLM-Omni cluster. QPS does not change the mode (the cloud modes scale out); it changes the
replica count, and below the article's single-instance bottleneck one replica suffices.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxdeploy.infra.capacity.reference import (
    BENCHMARK,
    CUSTOMER_SERVICE,
    EDUCATION_CONTENT,
    MOBILE_APP,
    MULTILINGUAL_CONTENT,
    SINGLE_INSTANCE_QPS,
    VOICE_ASSISTANT,
    DecisionRow,
)


@dataclass(frozen=True)
class Targets:
    """A scenario: the p95 RTF and busy-hour QPS it needs, and what else it must do."""

    rtf: float
    qps: float
    offline: bool = False
    batch: bool = False
    personalised_voice: bool = False


@dataclass(frozen=True)
class Recommendation:
    """The row chosen (None when no mode of the article reaches the targets) and why, in words."""

    row: DecisionRow | None
    reason: str


BEST_RTF = min(point.rtf for _, point in BENCHMARK.values())
"""The fastest RTF the article measured at all (mixed batching)."""


def _fits(row: DecisionRow, targets: Targets) -> bool:
    return row.rtf[0] <= targets.rtf


def recommend(targets: Targets) -> Recommendation:
    """Which of the article's modes serves `targets`, with the reason."""
    if targets.rtf < BEST_RTF:
        return Recommendation(
            None,
            f"no mode of the article reaches RTF {targets.rtf:g}; the best measured is {BEST_RTF:g} (mixed batching)",
        )
    if targets.personalised_voice and _fits(VOICE_ASSISTANT, targets):
        return Recommendation(VOICE_ASSISTANT, "per-user LoRA voices are fine-tuned and served on the device")
    if targets.offline:
        if _fits(MOBILE_APP, targets):
            return Recommendation(MOBILE_APP, f"offline synthesis on the device meets RTF {targets.rtf:g}")
        return Recommendation(
            MULTILINGUAL_CONTENT,
            f"offline needs the edge, which cannot reach RTF {targets.rtf:g}; the cloud serves the fast path",
        )
    if targets.batch:
        return Recommendation(EDUCATION_CONTENT, "nobody waits, so batching turns queues into throughput")
    if targets.qps <= SINGLE_INSTANCE_QPS:
        reason = (
            f"interactive; at {targets.qps:g} QPS one replica suffices (the article's single-instance "
            f"limit is {SINGLE_INSTANCE_QPS:g})"
        )
    else:
        reason = f"interactive at {targets.qps:g} QPS: continuous batching, scaled out"
    if not _fits(CUSTOMER_SERVICE, targets):
        reason += f"; RTF {targets.rtf:g} needs the mixed-batching configuration ({BEST_RTF:g})"
    return Recommendation(CUSTOMER_SERVICE, reason)
