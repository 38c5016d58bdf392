"""A real Prometheus (Debian's `prometheus`) on 127.0.0.1 scraping a slow sim runtime under load.

The latency alert, with its target and `for` shortened in this test's config, must become pending or
firing; the recording rules must produce the environment's series; and every dashboard query must be
accepted by the server. Both processes are started with explicit command lines and stopped by PID.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.observability import CONFIG_NAMES, config_named
from tests.support.processes import Served, start_serve, wait_until
from tests.support.prometheus_server import load, start_prometheus, stop
from voxdeploy.contracts.metrics import RATE_WINDOW
from voxdeploy.infra.config import DeploymentConfig
from voxdeploy.infra.observability.dashboard import panels
from voxdeploy.infra.observability.promql import selector, target_labels
from voxdeploy.infra.observability.recording import LATENCY_P95, QPS, error_ratio
from voxdeploy.infra.observability.rules import rule_file

SCRAPE = "1s"
LATENCY_TARGET_SECONDS = 1.0
"""The sim below takes about 2.6 s per request (RTF 3 on ~0.9 s of audio): well over this target."""


def shortened() -> DeploymentConfig:
    """Defaults, with the latency target and the latency alert's `for` cut to fit a test."""
    return DeploymentConfig.model_validate(
        {
            "slo": {"p95LatencySeconds": LATENCY_TARGET_SECONDS},
            "observability": {"alerts": {"highInferenceLatency": {"for": "5s", "severity": "warning"}}},
        }
    )


@dataclass
class Monitored:
    config: DeploymentConfig
    runtime: Served
    prometheus: str
    codes: list[int]
    """Status codes of the load the fixture ran while Prometheus was scraping."""

    def query(self, expr: str) -> dict:
        response = httpx.get(self.prometheus + "/api/v1/query", params={"query": expr}, timeout=10)
        return response.json()

    def alert_states(self, name: str) -> list[dict]:
        alerts = httpx.get(self.prometheus + "/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return [alert for alert in alerts if alert["labels"]["alertname"] == name]


def prometheus_config(config: DeploymentConfig, runtime: Served, rules: Path) -> dict:
    """Global 1 s scrape and evaluation; the runtime as a static target with the labels Kubernetes would give."""
    labels = {**target_labels(config), "pod": "local"}
    return {
        "global": {"scrape_interval": SCRAPE, "evaluation_interval": SCRAPE},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": "voxdeploy-test",
                "static_configs": [{"targets": [f"127.0.0.1:{runtime.port}"], "labels": labels}],
            }
        ],
    }


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    work = tmp_path_factory.mktemp("prometheus")
    runtime = start_serve(["--engine", "sim", "--sim-rtf", "3", "--sim-first-audio", "0.2"], work / "serve.log")
    process: subprocess.Popen[bytes] | None = None
    try:
        config = shortened()
        rules = work / "rules.yaml"
        rules.write_text(yaml.safe_dump(rule_file(config), sort_keys=False))
        process, url = start_prometheus(work, prometheus_config(config, runtime, rules))
        monitored = Monitored(config, runtime, url, [])
        up = f"up{selector(target_labels(config))}"
        wait_until(lambda: monitored.query(up)["data"]["result"] != [], 30, "the first scrape of the runtime")
        monitored.codes = load(runtime.url, seconds=12)
        yield monitored
    finally:
        if process is not None:
            stop(process)
        runtime.stop()


def test_latency_alert_goes_pending_or_firing_under_slow_load(monitored: Monitored) -> None:
    assert monitored.codes and set(monitored.codes) == {200}
    states: list[dict] = []

    def alerting() -> bool:
        states[:] = monitored.alert_states("HighInferenceLatency")
        return any(alert["state"] in ("pending", "firing") for alert in states)

    wait_until(alerting, 30, "HighInferenceLatency to become pending or firing")
    (alert,) = states
    assert alert["labels"] == {
        "alertname": "HighInferenceLatency",
        **target_labels(monitored.config),
        "severity": "warning",
        "environment": monitored.config.environment,
    }
    assert float(alert["value"]) > LATENCY_TARGET_SECONDS
    assert "above the 1 s target" in alert["annotations"]["description"]


def test_recording_rules_produce_the_environments_series(monitored: Monitored) -> None:
    sel = selector(target_labels(monitored.config))
    for name in (QPS, LATENCY_P95):
        wait_until(lambda n=name: monitored.query(f"{n}{sel}")["data"]["result"] != [], 30, f"{name} to be recorded")


def test_the_error_ratio_of_a_healthy_service_is_0_not_missing(monitored: Monitored) -> None:
    """Every request answered 200, so no failure series exists at all: the ratio must still read 0."""
    assert monitored.codes and set(monitored.codes) == {200}
    expr = f"{error_ratio(RATE_WINDOW)}{selector(target_labels(monitored.config))}"
    result: list[dict] = []

    def recorded() -> bool:
        result[:] = monitored.query(expr)["data"]["result"]
        return result != []

    wait_until(recorded, 30, f"{expr} to be recorded")
    (sample,) = result
    assert float(sample["value"][1]) == 0.0


def test_every_dashboard_query_is_accepted(monitored: Monitored) -> None:
    for panel in panels(monitored.config):
        for query in panel.queries:
            answer = monitored.query(query.expr)
            assert answer["status"] == "success", (panel.title, query.expr, answer)


def test_every_stacks_dashboard_queries_parse(monitored: Monitored) -> None:
    """The edge and router rows too: each query of each stack's dashboard is valid PromQL to the server."""
    for name in CONFIG_NAMES:
        for panel in panels(config_named(name)):
            for query in panel.queries:
                answer = monitored.query(query.expr)
                assert answer["status"] == "success", (name, panel.title, query.expr, answer)


def test_a_broken_query_is_refused(monitored: Monitored) -> None:
    assert monitored.query("sum by (code (rate(x[5m]))")["status"] == "error"
