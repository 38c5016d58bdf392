"""The canary's AnalysisTemplate queries, run by a real Prometheus (Debian's `prometheus`) against two sim runtimes
scraped as two versions of the staging cloud tier: a slow canary breaches latency and RTF, a healthy one nothing,
and a canary no request reached breaches nothing either. Each runtime's series carry the pod-hash label the
ServiceMonitor's podTargetLabels copies from Argo's pods.

The rendered `failureCondition` strings are evaluated as Argo Rollouts v1.9.1 does for this grammar (utils/evaluate:
expr-lang with `isNaN` in its environment, `result` the vector's sample values per metricproviders/prometheus/
prometheus.go): `&&`, `!`, `len`, `isNaN`, indexing and comparisons, which Python reads the same way.
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
from voxdeploy.infra.observability.promql import target_labels

HEALTHY, SLOW = "6d4b9c7f5", "8f7c6b5d4"
"""Two pod-template hashes, as Argo names a Rollout's versions."""
SIM = {HEALTHY: ["--sim-rtf", "0.1", "--sim-first-audio", "0.05"], SLOW: ["--sim-rtf", "3", "--sim-first-audio", "0.2"]}


def argo_condition(condition: str, result: list[float]) -> bool:
    """An analysis condition of the grammar above, evaluated over `result` (Argo's expression, read by Python)."""
    assert set(condition) <= set("abcdefghijklmnopqrstuvwxyzNI0123456789.()[]&!<>= "), condition
    python = condition.replace("&&", " and ").replace("!isNaN(", "not isNaN(")
    return bool(eval(python, {"__builtins__": {}}, {"len": len, "isNaN": math.isnan, "result": result}))


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


def breaches(config: DeploymentConfig, url: str, version: str) -> dict[str, tuple[list[float], bool]]:
    """Each figure's answer from Prometheus for one version's hash, and whether the template's condition fails it."""
    template = rollout.slo_template(config)
    conditions = {m["name"]: m["failureCondition"] for m in template["spec"]["metrics"]}  # type: ignore[index]
    found = {}
    for check in rollout.slo_checks(config, version):
        answer = query(url, check.query)
        assert answer["status"] == "success", (check.query, answer)
        values = [float(sample["value"][1]) for sample in answer["data"]["result"]]
        found[check.name] = (values, argo_condition(conditions[check.name], values))
    return found


def test_the_template_queries_the_canarys_own_series_against_the_stacks_slo() -> None:
    config = config_of(staging_canary())
    template = rollout.slo_template(config)
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}  # type: ignore[index]
    assert all("successCondition" not in m for m in metrics.values()), "only a breach fails a measurement"
    for check in rollout.slo_checks(config):
        assert metrics[check.name]["provider"]["prometheus"]["query"] == check.query
        assert f'{HASH_TARGET_LABEL}="{{{{args.canary-hash}}}}"' in check.query
    assert {c.name: c.bound for c in rollout.slo_checks(config)} == {
        "p95-latency": config.slo.p95_latency_seconds,
        "p95-rtf": config.slo.p95_rtf,
        "error-ratio": config.slo.max_error_ratio,
    }
    # at the bound nothing breaches; just past it, or measured NaN or nothing, as Argo's evaluator would read it
    latency = metrics["p95-latency"]["failureCondition"]
    bound = config.slo.p95_latency_seconds
    assert [argo_condition(latency, r) for r in ([bound], [bound * 1.01], [math.nan], [])] == [
        False,
        True,
        False,
        False,
    ]


def test_a_bound_past_the_histogram_fails_at_its_last_bucket() -> None:
    """histogram_quantile answers at most the last finite bucket, so `> bound` past it could never hold."""
    document = staging_canary()
    document["config"]["voxdeploy:slo"]["p95LatencySeconds"] = 1000
    config = config_of(document)
    (latency,) = [c for c in rollout.slo_checks(config) if c.name == "p95-latency"]
    assert latency.ceiling is not None and latency.ceiling < 1000
    assert argo_condition(latency.failure_condition, [latency.ceiling])
    assert not argo_condition(latency.failure_condition, [latency.ceiling * 0.99])


def test_a_healthy_canary_breaches_nothing(measured) -> None:
    config, url = measured
    found = breaches(config, url, HEALTHY)
    print("healthy canary:", found)
    assert not any(failed for _, failed in found.values()), found
    assert found["error-ratio"][0] == [0.0] and all(values for values, _ in found.values())


def test_a_slow_canary_breaches_latency_and_rtf(measured) -> None:
    config, url = measured
    found = breaches(config, url, SLOW)
    print("slow canary:", found)
    assert {name for name, (_, failed) in found.items() if failed} == {"p95-latency", "p95-rtf"}, found
    assert found["p95-latency"][0][0] > config.slo.p95_latency_seconds


def test_a_canary_no_request_reached_breaches_nothing(measured) -> None:
    """No series for its hash (a quiet cluster, the pauses after the load test): empty answers, no evidence of a
    breach, so the rollout is not aborted for want of traffic."""
    config, url = measured
    found = breaches(config, url, "5f5f5f5f5")
    print("canary without traffic:", found)
    assert found == {name: ([], False) for name in found} and len(found) == 3
