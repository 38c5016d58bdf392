"""Every series a rule or panel reads is one the runtime really exports.

A sim runtime on 127.0.0.1 serves one request and its /metrics must hold every catalogue name the rules
and dashboard use. Without NVML it exports no GPU series (by design), so the GPU half is checked on
/metrics captured from the same runtime on an H100 (fixtures/), whose real GPU series must also fire
GPUMemoryHighUsage under promtool.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from infra import metrics_catalog as catalog
from infra.config import DeploymentConfig
from infra.observability import external
from infra.observability.alerts import alert_rules, as_rule
from infra.observability.dashboard import panels
from infra.observability.promql import le_value, target_labels
from infra.observability.recording import latency_sli_bound, recording_rules
from infra.observability.rules import rule_groups
from tests.observability.alert_cases import Case, Series, pod_labels, unit_tests
from tests.observability.conftest import CONFIG_NAMES, config_named, run_unit_tests
from tests.observability.promql_names import series_names

H100_METRICS = Path(__file__).parent / "fixtures" / "h100-runtime-metrics.txt"


def exported(text: str) -> dict[str, set[str]]:
    """Sample name -> the `le` values it carries (empty for non-buckets)."""
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update({sample.labels["le"]} if "le" in sample.labels else set())
    return samples


def used_names() -> set[str]:
    """Runtime series any environment's rules or panels read (recording rules and external names aside)."""
    names: set[str] = set()
    for name in CONFIG_NAMES:
        config = config_named(name)
        exprs = [str(rule["expr"]) for group in rule_groups(config) for rule in group["rules"]]
        exprs += [query.expr for panel in panels(config) for query in panel.queries]
        recorded = {str(rule["record"]) for rule in recording_rules(config)}
        names |= {n for expr in exprs for n in series_names(expr)} - recorded - external.NAMES
    assert names, "no series names found in the rules: the name extraction is broken"
    return names


def assert_all_exported(samples: dict[str, set[str]], absent_by_design: set[str]) -> None:
    assert used_names() - set(samples) - absent_by_design == set()
    for name in CONFIG_NAMES:
        bound = le_value(latency_sli_bound(config_named(name)))
        assert bound in samples[catalog.REQUEST_LATENCY.series[0]], f"the latency SLO reads le={bound!r}"


def test_a_live_runtime_exports_every_series_the_rules_and_dashboard_read(serve) -> None:
    runtime = serve("--engine", "sim", "--sim-rtf", "0.05", "--sim-first-audio", "0.02")
    body = {"model": "openbmb/VoxCPM2", "input": "Hello there.", "voice": "default"}
    assert httpx.post(runtime.url + "/v1/audio/speech", json=body, timeout=30).status_code == 200
    samples = exported(httpx.get(runtime.url + "/metrics", timeout=5).text)
    gpu = set(catalog.GPU_MEMORY_USED.series)
    assert_all_exported(samples, absent_by_design=set() if gpu <= set(samples) else gpu)


def test_a_runtime_on_an_h100_exports_them_all_gpu_included() -> None:
    assert_all_exported(exported(H100_METRICS.read_text()), absent_by_design=set())


def test_gpu_memory_alert_fires_on_the_h100s_own_series(promtool: str, tmp_path: Path) -> None:
    config = DeploymentConfig()
    (family,) = [
        f for f in text_string_to_metric_families(H100_METRICS.read_text()) if f.name == catalog.GPU_MEMORY_USED.name
    ]
    (sample,) = family.samples
    assert sample.value > config.observability.alerts.gpu_memory_high_usage.threshold_percent
    labels = {**pod_labels(config), **sample.labels}
    case = Case(
        firing=(Series(sample.name, labels, (sample.value,)),),
        active_from=0,
        labels={**target_labels(config), "pod": labels["pod"], "gpu": sample.labels["gpu"]},
        value=sample.value,
    )
    (alert,) = [a for a in alert_rules(config) if a.name == "GPUMemoryHighUsage"]
    run_unit_tests(promtool, config, unit_tests(alert, as_rule(alert, config), case), tmp_path)
