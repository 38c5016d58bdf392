"""The canary's AnalysisTemplate queries, run by a real Prometheus (Debian's `prometheus`) against two sim runtimes
scraped as two versions of the staging cloud tier: a healthy canary passes every figure, a slow one fails on latency
and RTF. Each runtime's series carry the pod-hash label the ServiceMonitor's podTargetLabels copies from Argo's pods.

The conditions are Argo Rollouts' expressions (v1.9.1 utils/evaluate); `passes` reads them as Argo does for our
one shape, `len(result) > 0 && !isNaN(result[0]) && result[0] <= bound`, with `result` the vector's sample values
(metricproviders/prometheus/prometheus.go).
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.processes import Served, start_serve, wait_until
from tests.support.prometheus_server import load, query, start_prometheus, stop
from tests.support.stacks import config_of, staging_canary
from voxdeploy.infra.builders import rollout
from voxdeploy.infra.config import DeploymentConfig
from voxdeploy.infra.config.canary import HASH_TARGET_LABEL
from voxdeploy.infra.observability.promql import number, target_labels

HEALTHY, SLOW = "6d4b9c7f5", "8f7c6b5d4"
"""Two pod-template hashes, as Argo names a Rollout's versions."""
SIM = {HEALTHY: ["--sim-rtf", "0.1", "--sim-first-audio", "0.05"], SLOW: ["--sim-rtf", "3", "--sim-first-audio", "0.2"]}


def passes(values: list[float], bound: float) -> bool:
    return len(values) > 0 and not math.isnan(values[0]) and values[0] <= bound


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DeploymentConfig, str]]:
    work = tmp_path_factory.mktemp("canary")
    config = config_of(staging_canary())
    runtimes: dict[str, Served] = {}
    process: subprocess.Popen[bytes] | None = None
    try:
        for version, args in SIM.items():
            runtimes[version] = start_serve(["--engine", "sim", *args], work / f"{version}.log")
        targets = [
            {
                "targets": [f"127.0.0.1:{served.port}"],
                "labels": {**target_labels(config), "pod": f"voxcpm-{version}", HASH_TARGET_LABEL: version},
            }
            for version, served in runtimes.items()
        ]
        process, url = start_prometheus(
            work,
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [{"job_name": "canary", "static_configs": targets}],
            },
        )
        wait_until(lambda: len(query(url, "up == 1")["data"]["result"]) == 2, 30, "both versions scraped")
        with ThreadPoolExecutor(2) as pool:
            codes = list(pool.map(lambda served: load(served.url, seconds=12), runtimes.values()))
        assert all(codes) and {c for run in codes for c in run} == {200}
        time.sleep(2)  # a last scrape or two, with the last requests' samples
        yield config, url
    finally:
        if process is not None:
            stop(process)
        for served in runtimes.values():
            served.stop()


def results(config: DeploymentConfig, url: str, version: str) -> dict[str, tuple[list[float], bool]]:
    found = {}
    for check in rollout.slo_checks(config, version):
        answer = query(url, check.query)
        assert answer["status"] == "success", (check.query, answer)
        values = [float(sample["value"][1]) for sample in answer["data"]["result"]]
        found[check.name] = (values, passes(values, check.bound))
    return found


def test_the_templates_conditions_are_the_ones_judged() -> None:
    config = config_of(staging_canary())
    (template,) = [
        o for o in rollout.rollout_objects(config) if o["metadata"]["name"] == rollout.slo_template_name(config)
    ]
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}  # type: ignore[index]
    for check in rollout.slo_checks(config):
        assert metrics[check.name]["successCondition"] == (
            f"len(result) > 0 && !isNaN(result[0]) && result[0] <= {number(check.bound)}"
        )
        assert metrics[check.name]["provider"]["prometheus"]["query"] == check.query
        assert f'{HASH_TARGET_LABEL}="{{{{args.canary-hash}}}}"' in check.query
    assert {c.name: c.bound for c in rollout.slo_checks(config)} == {
        "p95-latency": config.slo.p95_latency_seconds,
        "p95-rtf": config.slo.p95_rtf,
        "error-ratio": config.slo.max_error_ratio,
    }


def test_a_healthy_canary_passes_every_figure(measured) -> None:
    config, url = measured
    found = results(config, url, HEALTHY)
    print("healthy canary:", found)
    assert all(ok for _, ok in found.values()), found
    assert found["error-ratio"][0] == [0.0]


def test_a_slow_canary_fails_on_latency_and_rtf(measured) -> None:
    config, url = measured
    found = results(config, url, SLOW)
    print("slow canary:", found)
    assert {name for name, (_, ok) in found.items() if not ok} == {"p95-latency", "p95-rtf"}, found
    assert found["p95-latency"][0][0] > config.slo.p95_latency_seconds


def test_a_canary_nobody_measured_fails() -> None:
    """No series for its hash (no traffic reached it): an empty vector, which the condition refuses."""
    assert not passes([], 2.0) and not passes([math.nan], 2.0)
