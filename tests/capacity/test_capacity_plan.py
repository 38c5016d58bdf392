"""Replicas, HPA bounds, GPUs and the monthly bill; the reference article's cost table as the worked example."""

from __future__ import annotations

import pytest

from tests.support.stacks import STACKS_DIR
from voxdeploy.infra.capacity.cost import monthly_cost
from voxdeploy.infra.capacity.model import CapacityCurve, CapacityInputError, CapacityPoint
from voxdeploy.infra.capacity.planner import ReplicaPlan, plan_replicas
from voxdeploy.infra.capacity.reference import reference_curve
from voxdeploy.infra.capacity.report import CapacityReport, as_json, as_text, capacity_report
from voxdeploy.infra.config import load_stack
from voxdeploy.infra.config.capacity import CapacityPlanning, PriceTable

ARTICLE_COST_TABLE = {  # USD per month: hardware, cloud service, bandwidth, total
    "cloud": (0, 8_500, 1_200, 9_700),
    "edge": (25_000, 0, 800, 25_800),
    "hybrid": (12_000, 3_200, 600, 15_800),
}


def interactive(report: CapacityReport) -> ReplicaPlan:
    assert report.plan is not None
    return report.plan


def cost_row(prices: PriceTable, gpu_hours: float) -> tuple[float, float, float, float]:
    cost = monthly_cost(prices, gpu_hours)
    return cost.hardware, cost.cloud, cost.bandwidth, cost.total


def test_worked_example_reproduces_the_articles_cost_table() -> None:
    """Cloud: the article's HPA floor of 2 replicas and its Deployment's 3, two GPUs each (TP 2), sized from the
    vLLM-Omni row for 1,000 QPS at RTF 0.15, eight busy hours a day at $2.50 per GPU-hour. Edge: $900,000 of
    devices over 36 months. Hybrid: $432,000 of devices, and the article's $3,200 of cloud as 1,280 GPU-hours."""
    cloud = plan_replicas(reference_curve("vllmOmni"), 1000, 0.15, CapacityPlanning(), gpus_per_replica=2)
    assert (cloud.replicas_min, cloud.replicas_busy, cloud.gpus) == (2, 3, (4, 6, 6))
    assert cloud.gpu_hours_per_month == 4 * (730 - 240) + 6 * 240 == 3400
    rows = {
        "cloud": cost_row(PriceTable(bandwidth_usd_per_month=1200), cloud.gpu_hours_per_month),
        "edge": cost_row(PriceTable(hardware_usd=900_000, bandwidth_usd_per_month=800), 0),
        "hybrid": cost_row(PriceTable(hardware_usd=432_000, bandwidth_usd_per_month=600), 1280),
    }
    assert rows == ARTICLE_COST_TABLE


def test_bounds_follow_floor_off_peak_and_headroom() -> None:
    curve = CapacityCurve("flat", (CapacityPoint(10, 100, 0.1, 0.1),))
    planning = CapacityPlanning(
        headroom=0.5, off_peak_share=0.25, min_replicas_floor=1, hours_per_month=700, busy_hours_per_month=100
    )
    plan = plan_replicas(curve, 1000, 0.2, planning, gpus_per_replica=4)
    assert (plan.replicas_min, plan.replicas_busy, plan.replicas_max) == (3, 10, 15)
    assert plan.gpus == (12, 40, 60)
    assert plan.gpu_hours_per_month == 4 * (3 * 600 + 10 * 100)
    floored = plan_replicas(curve, 50, 0.2, CapacityPlanning(), gpus_per_replica=1)
    assert (floored.replicas_min, floored.replicas_busy, floored.replicas_max) == (2, 2, 2)


def test_an_exact_multiple_of_capacity_needs_no_extra_replica() -> None:
    plan = plan_replicas(reference_curve("vllmOmni"), 833.4, 0.15, CapacityPlanning(headroom=0), 1)
    assert plan.replicas_busy == 2


def test_in_flight_target_leaves_the_headroom_free() -> None:
    plan = plan_replicas(reference_curve("vllmOmni"), 1000, 0.15, CapacityPlanning(headroom=0.2), 2)
    assert plan.in_flight_target == 41  # 50 in flight carry 416.7 req/s; 416.7 / 1.2 needs 41.7


def test_a_target_below_every_measured_rtf_is_refused() -> None:
    with pytest.raises(CapacityInputError, match=r"no concurrency meets RTF 0\.2 .best measured 0\.3"):
        plan_replicas(reference_curve("singlePytorch"), 10, 0.2, CapacityPlanning(), 1)


def test_prod_report_as_json_and_text() -> None:
    config = load_stack("prod", STACKS_DIR).config
    report = capacity_report(config, CapacityPlanning(reference_mode="mixedBatching"), target_qps=2000)
    document = as_json(report)
    assert document["source"] == "reference article: mixed batching"
    assert document["stackReplicas"] == {"min": 2, "max": 10}
    interactive = document["interactive"]
    assert interactive["targetQps"] == 2000 and interactive["rtfTarget"] == 0.15
    assert interactive["replicas"] == {"min": 2, "busy": 4, "max": 5}
    assert interactive["gpus"] == {"min": 2, "busy": 4, "max": 5}  # one GPU a replica: VoxCPM2 is not sharded
    assert document["batch"] is None
    assert document["monthlyCostUsd"]["total"] == document["monthlyCostUsd"]["cloud"] == 2.5 * (2 * 490 + 4 * 240)
    assert document["recommendation"]["mode"] == "vLLM-Omni cluster"
    text = " ".join(as_text(report).split())
    assert "replicas min / busy / max 2 / 4 / 5 (stack: 2..10)" in text
    assert "$0 $4,850 $0 $4,850" in text
    assert "Recommended mode: vLLM-Omni cluster (real-time customer service, $5,000-$10,000 a month)" in text


def test_target_qps_defaults_to_the_slo() -> None:
    config = load_stack("prod", STACKS_DIR).config
    assert interactive(capacity_report(config, CapacityPlanning())).target_qps == config.slo.min_qps
    assert interactive(capacity_report(config, CapacityPlanning(target_qps=123))).target_qps == 123
