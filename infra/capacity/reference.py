"""The reference article's figures, written once: its benchmark table and its quick decision table.

They are the defaults where a stack has not been measured, and the worked example the tests hold the
arithmetic to. The article is "3种生产级部署模式让你的VoxCPM语音生成性能提升200%" ("three production deployment
modes for VoxCPM"), published with the VoxCPM project on gitcode.com (GitHub_Trending/vo/VoxCPM); the
figures below are copied from its benchmark, cost and decision tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxdeploy.infra.capacity.model import CapacityCurve, CapacityPoint
from voxdeploy.infra.config.capacity import ReferenceMode

BENCHMARK: dict[ReferenceMode, tuple[str, CapacityPoint]] = {
    "singlePytorch": ("single PyTorch instance", CapacityPoint(10, 28.5, 0.350, 0.30)),
    "vllmOmni": ("vLLM-Omni", CapacityPoint(50, 416.7, 0.120, 0.13)),
    "mixedBatching": ("mixed batching", CapacityPoint(100, 555.6, 0.180, 0.10)),
}
"""Per replica: concurrent requests, requests/s, mean latency (s), RTF, as the article's benchmark reports them."""

SINGLE_INSTANCE_QPS = 50.0
"""Load above which the article finds a single instance the bottleneck."""


def reference_curve(mode: ReferenceMode) -> CapacityCurve:
    """One replica as the article's benchmark row for `mode` describes it."""
    title, point = BENCHMARK[mode]
    return CapacityCurve(f"reference article: {title}", (point,))


@dataclass(frozen=True)
class DecisionRow:
    """One row of the article's quick decision table."""

    scenario: str
    mode: str
    monthly_usd: tuple[int, int]
    rtf: tuple[float, float]
    """(best, worst) RTF the mode delivers in that scenario."""
    highlight: str


CUSTOMER_SERVICE = DecisionRow(
    "real-time customer service", "vLLM-Omni cluster", (5_000, 10_000), (0.15, 0.15), "QPS 500"
)
MOBILE_APP = DecisionRow("mobile app integration", "llama.cpp-omni edge", (2_000, 5_000), (1.5, 3.0), "works offline")
MULTILINGUAL_CONTENT = DecisionRow(
    "multilingual content production", "hybrid cloud-edge", (8_000, 15_000), (0.2, 0.2), "30 languages"
)
VOICE_ASSISTANT = DecisionRow(
    "personalised voice assistant", "LoRA fine-tuned edge", (3_000, 6_000), (0.3, 0.3), "personalised voices"
)
EDUCATION_CONTENT = DecisionRow(
    "educational content generation", "cloud batch processing", (1_000, 3_000), (0.1, 0.2), "batch processing"
)
DECISION_TABLE: tuple[DecisionRow, ...] = (
    CUSTOMER_SERVICE,
    MOBILE_APP,
    MULTILINGUAL_CONTENT,
    VOICE_ASSISTANT,
    EDUCATION_CONTENT,
)
