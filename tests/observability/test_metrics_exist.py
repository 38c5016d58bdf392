"""Every series a rule or panel reads is one the process behind it really exports.

A sim runtime on 127.0.0.1 serves one request and its /metrics must hold every runtime name the rules
and dashboard use (cloud and edge alike: the edge runtime is the same process over llama.cpp). Without
NVML it exports no GPU series (by design), so the GPU half is checked on /metrics captured from the same
runtime on an H100 (fixtures/), whose real GPU series must also fire GPUMemoryHighUsage under promtool.
The engine's own names (vLLM's queue and KV cache) must be pinned in contracts/engine_metrics.py and are
checked on a vllm-omni runtime over a stand-in engine that serves them, as the simulator serves none.
A router (`voxdeploy serve --router`) in front of a sim runtime, with a fallback on the way, must export
every name the router's rules and dashboard row read.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.alert_cases import Case, Series, pod_labels, unit_tests
from tests.support.observability import CLOUD_CONFIG_NAMES, CONFIG_NAMES, config_named, run_unit_tests
from tests.support.processes import free_port
from tests.support.promql_names import series_names
from tests.support.upstream import vllm_omni_standin_args
from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.infra.config import DeploymentConfig
from voxdeploy.infra.observability import external, router
from voxdeploy.infra.observability.alerts import as_rule
from voxdeploy.infra.observability.dashboard import panels
from voxdeploy.infra.observability.promql import le_value, target_labels
from voxdeploy.infra.observability.recording import latency_sli_bound
from voxdeploy.infra.observability.rules import rule_groups
from voxdeploy.infra.observability.watch import alert_rules, recording_rules, router_watch

H100_METRICS = Path(__file__).parent / "fixtures" / "h100-runtime-metrics.txt"
ROUTER_SERIES = {series for metric in catalog.ROUTER_METRICS for series in metric.series}
ENGINE_EXPOSITION_SERIES = engine_catalog.ENGINE_SERIES | set(catalog.ENGINE_METRICS_UP.series)
"""What only a runtime over an engine that serves metrics of its own exports (vllm-omni, not the simulator)."""
SPEECH = {"model": "openbmb/VoxCPM2", "input": "Hello there.", "voice": "default"}


def exported(text: str) -> dict[str, set[str]]:
    """Sample name -> the `le` values it carries (empty for non-buckets)."""
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update({sample.labels["le"]} if "le" in sample.labels else set())
    return samples


def read_names(config: DeploymentConfig, exprs: list[str]) -> set[str]:
    """Exported series the expressions read: recording rules and Prometheus' or kube-state-metrics' own aside."""
    recorded = {str(rule["record"]) for rule in recording_rules(config)}
    return {n for expr in exprs for n in series_names(expr)} - recorded - external.NAMES


def used_names() -> set[str]:
    """Series any environment's rules or panels read, runtime's and router's."""
    names: set[str] = set()
    for name in CONFIG_NAMES:
        config = config_named(name)
        exprs = [str(rule["expr"]) for group in rule_groups(config) for rule in group["rules"]]
        names |= read_names(config, exprs + [query.expr for panel in panels(config) for query in panel.queries])
    assert names, "no series names found in the rules: the name extraction is broken"
    return names


def router_used_names() -> set[str]:
    """Series the router's rules and dashboard row read, over every stack that runs a router."""
    names: set[str] = set()
    for name in CONFIG_NAMES:
        config = config_named(name)
        watch = router_watch(config)
        if watch is None:
            continue
        exprs = [str(rule["expr"]) for rule in watch.recording] + [alert.expr for alert in watch.alerts]
        names |= read_names(config, exprs + [query.expr for panel in router.panels(config) for query in panel.queries])
    assert names, "no stack runs a router, or the name extraction is broken"
    return names


def assert_all_exported(samples: dict[str, set[str]], absent_by_design: set[str]) -> None:
    assert used_names() - ROUTER_SERIES - ENGINE_EXPOSITION_SERIES - set(samples) - absent_by_design == set()
    for name in CLOUD_CONFIG_NAMES:
        bound = le_value(latency_sli_bound(config_named(name)))
        assert bound in samples[catalog.REQUEST_LATENCY.series[0]], f"the latency SLO reads le={bound!r}"


def test_a_live_runtime_exports_every_series_the_rules_and_dashboard_read(serve) -> None:
    runtime = serve("--engine", "sim", "--sim-rtf", "0.05", "--sim-first-audio", "0.02")
    assert httpx.post(runtime.url + "/v1/audio/speech", json=SPEECH, timeout=30).status_code == 200
    samples = exported(httpx.get(runtime.url + "/metrics", timeout=5).text)
    gpu = set(catalog.GPU_MEMORY_USED.series)
    assert_all_exported(samples, absent_by_design=set() if gpu <= set(samples) else gpu)


def test_a_live_router_exports_every_series_its_rules_and_dashboard_read(serve) -> None:
    """cloud is a sim runtime; fog is a port nothing listens on, so the short text the policy sends to fog
    falls back to cloud: requests, a fallback, an upstream latency and both endpoints' health all get samples."""
    cloud = serve("--engine", "sim", "--sim-rtf", "0.05", "--sim-first-audio", "0.02")
    nowhere = f"http://127.0.0.1:{free_port()}"
    routed = serve("--router", "--tier", f"cloud={cloud.url}", "--tier", f"fog={nowhere}")
    response = httpx.post(routed.url + "/v1/audio/speech", json=SPEECH, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["X-Voxdeploy-Fallbacks"] == "1", "the request must have fallen back from fog"
    samples = exported(httpx.get(routed.url + "/metrics", timeout=5).text)
    used = router_used_names()
    assert used <= ROUTER_SERIES, f"router rules read series the router does not own: {used - ROUTER_SERIES}"
    assert used - set(samples) == set()


def test_the_engine_names_they_read_are_pinned_to_the_engine_version() -> None:
    namespaces = tuple(namespace for exposition in engine_catalog.EXPOSITIONS for namespace in exposition.namespaces)
    read = {name for name in used_names() if name.startswith(namespaces)}
    assert read, "the dashboard reads the engine's queue and KV-cache use"
    assert read <= engine_catalog.ENGINE_SERIES, "pin an engine name in contracts/engine_metrics.py before using it"


def test_a_live_vllm_omni_runtime_exports_every_engine_series_they_read(serve) -> None:
    """The runtime over a stand-in engine serving an exposition with vLLM-Omni 0.30's own names."""
    runtime = serve(*vllm_omni_standin_args(free_port()))
    samples = exported(httpx.get(runtime.url + "/metrics", timeout=10).text)
    assert (used_names() & ENGINE_EXPOSITION_SERIES) - set(samples) == set()


def test_a_runtime_on_an_h100_exports_them_all_gpu_included() -> None:
    assert_all_exported(exported(H100_METRICS.read_text()), absent_by_design=set())


def test_gpu_memory_alert_fires_on_the_h100s_own_series(promtool: str, tmp_path: Path) -> None:
    config = DeploymentConfig()
    (family,) = [
        f for f in text_string_to_metric_families(H100_METRICS.read_text()) if f.name == catalog.GPU_MEMORY_USED.name
    ]
    (sample,) = family.samples
    assert 0 < sample.value <= 1, "a 0-1 ratio, as the name's _ratio says"
    assert sample.value > config.observability.alerts.gpu_memory_high_usage.threshold_ratio
    labels = {**pod_labels(config), **sample.labels}
    case = Case(
        firing=(Series(sample.name, labels, (sample.value,)),),
        active_from=0,
        labels={**target_labels(config), "pod": labels["pod"], "gpu": sample.labels["gpu"]},
        value=sample.value,
    )
    (alert,) = [a for a in alert_rules(config) if a.name == "GPUMemoryHighUsage"]
    run_unit_tests(promtool, config, unit_tests(alert, as_rule(alert, config), case), tmp_path)
