"""One replica's capacity curve: the article's rows, interpolation, and real load-test results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.capacity_summaries import load_test_summary
from voxdeploy.infra.capacity.model import CapacityCurve, CapacityInputError, CapacityPoint, curve_from_load_test
from voxdeploy.infra.capacity.reference import BENCHMARK, reference_curve
from voxdeploy.loadtests.summary import write


def test_reference_rows_are_the_articles_benchmark() -> None:
    rows = {
        mode: (point.concurrency, point.latency_seconds * 1000, point.qps, point.rtf)
        for mode, (_, point) in BENCHMARK.items()
    }
    assert rows == {
        "singlePytorch": (10, 350, 28.5, 0.30),
        "vllmOmni": (50, 120, 416.7, 0.13),
        "mixedBatching": (100, 180, 555.6, 0.10),
    }
    for _, point in BENCHMARK.values():  # the article's throughput is concurrency / latency (Little's law)
        assert point.qps == pytest.approx(point.concurrency / point.latency_seconds, rel=0.01)


def test_one_point_curve_saturates_beyond_its_point() -> None:
    curve = reference_curve("vllmOmni")
    assert curve.throughput(25) == pytest.approx(416.7 / 2)
    assert curve.throughput(80) == 416.7
    assert curve.rtf(25) == 0.13
    assert curve.rtf(100) == pytest.approx(0.26)
    assert curve.latency(100) == pytest.approx(0.24, rel=0.01)
    at_slo = curve.at_rtf(0.15)
    assert at_slo is not None
    assert (at_slo.qps, at_slo.rtf) == (416.7, 0.15)
    assert at_slo.concurrency == pytest.approx(50 * 0.15 / 0.13)
    assert curve.at_rtf(0.12) is None


def test_curve_interpolates_between_measured_concurrencies() -> None:
    curve = CapacityCurve(
        "bench",
        (CapacityPoint(100, 500, 0.2, 0.2), CapacityPoint(10, 80, 0.125, 0.1), CapacityPoint(50, 300, 0.167, 0.14)),
    )
    assert [p.concurrency for p in curve.points] == [10, 50, 100]
    assert curve.concurrency_at_rtf(0.12) == pytest.approx(30)
    point = curve.at_rtf(0.17)
    assert point is not None
    assert point.concurrency == pytest.approx(75)
    assert point.qps == pytest.approx(400)
    assert curve.concurrency_at_throughput(190) == pytest.approx(30)
    assert curve.concurrency_at_throughput(900) == 100


def test_a_real_summary_json_is_one_replica_per_tested_replica(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write(load_test_summary(users=40, latency=0.1, audio_seconds=0.8, seconds=5), path)
    document = json.loads(path.read_text())
    one = curve_from_load_test(document, str(path))
    (point,) = one.points
    assert point.concurrency == 40
    assert point.qps == pytest.approx(document["measured"]["qps"])
    assert point.qps == pytest.approx(400, rel=0.01)
    assert point.rtf == pytest.approx(0.125)
    (shared,) = curve_from_load_test(document, str(path), replicas=2).points
    assert (shared.concurrency, shared.qps) == (20, pytest.approx(point.qps / 2))


def test_a_benchmark_json_gives_one_point_per_level() -> None:
    rows = [
        {"users": users, **load_test_summary(users, latency, 1.0, 3).measured.model_dump(mode="json")}
        for users, latency in ((10, 0.1), (50, 0.2))
    ]
    curve = curve_from_load_test(rows, "benchmark.json")
    assert [p.concurrency for p in curve.points] == [10, 50]
    assert [p.rtf for p in curve.points] == [pytest.approx(0.1), pytest.approx(0.2)]


@pytest.mark.parametrize(
    "document",
    [
        {"parameters": {"users": 10}},
        {"parameters": {"users": 10}, "measured": {"qps": 0, "latency_mean": None}},
        {"parameters": {"users": 0}, "measured": {"qps": 5, "latency_mean": 0.1, "rtf_p95": 0.2}},
        [],
        "text",
        [{"users": 10, "qps": 5, "latency_mean": 0.1, "rtf_p95": 0.2}] * 2,
    ],
)
def test_unusable_results_are_refused(document: object) -> None:
    with pytest.raises(CapacityInputError):
        curve_from_load_test(document, "summary.json")


def test_a_simulators_run_is_refused_unless_intended(tmp_path: Path) -> None:
    """A simulator's figures are its settings: planning from one (325 replicas, $790,550 a month) prices nothing."""
    path = tmp_path / "summary.json"
    write(load_test_summary(users=40, latency=0.1, audio_seconds=0.8, seconds=5, engine="sim"), path)
    document = json.loads(path.read_text())
    assert (document["engine"], document["simulated"]) == ("sim", True)
    with pytest.raises(CapacityInputError, match=r"summary.json: measured the simulator .*--allow-simulator"):
        curve_from_load_test(document, str(path))
    (point,) = curve_from_load_test(document, str(path), allow_simulator=True).points
    assert point.concurrency == 40
    rows = [{"users": 10, "engine": "sim", "simulated": True, **document["measured"]}]
    with pytest.raises(CapacityInputError, match="measured the simulator"):
        curve_from_load_test(rows, "benchmark.json")
