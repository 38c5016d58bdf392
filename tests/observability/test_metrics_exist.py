"""Every series a rule or panel reads is one the runtime really exports: a sim runtime on 127.0.0.1
serves one request, and its /metrics must hold every catalogue name the rules and dashboard use.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from infra import metrics_catalog as catalog
from infra.observability import external
from infra.observability.dashboard import panels
from infra.observability.promql import le_value
from infra.observability.recording import latency_sli_bound, recording_rules
from infra.observability.rules import rule_groups
from tests.observability.conftest import CONFIG_NAMES, config_named
from tests.observability.promql_names import series_names


def exported(url: str) -> dict[str, set[str]]:
    """Sample name -> the `le` values it carries (empty for non-buckets), as scraped."""
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=5).text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update({sample.labels["le"]} if "le" in sample.labels else set())
    return samples


def nvml_available() -> bool:
    """Whether the runtime can read GPU memory here: without NVML it exports no GPU series, by design."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
    except Exception:
        return False
    return True


def used_names() -> set[str]:
    names: set[str] = set()
    for name in CONFIG_NAMES:
        config = config_named(name)
        exprs = [str(rule["expr"]) for group in rule_groups(config) for rule in group["rules"]]
        exprs += [query.expr for panel in panels(config) for query in panel.queries]
        recorded = {str(rule["record"]) for rule in recording_rules(config)}
        names |= {n for expr in exprs for n in series_names(expr)} - recorded - external.NAMES
    return names


def test_every_series_the_rules_and_dashboard_read_is_exported(serve) -> None:
    runtime = serve("--engine", "sim", "--sim-rtf", "0.05", "--sim-first-audio", "0.02")
    response = httpx.post(
        runtime.url + "/v1/audio/speech", json={"model": "openbmb/VoxCPM2", "input": "Hello there.", "voice": "default"},
        timeout=30,
    )
    assert response.status_code == 200
    samples = exported(runtime.url)
    absent_by_design = set() if nvml_available() else set(catalog.GPU_MEMORY_USED.series)
    used = used_names()
    assert used, "no series names found in the rules: the name extraction is broken"
    assert used - set(samples) - absent_by_design == set()
    for name in CONFIG_NAMES:
        bound = le_value(latency_sli_bound(config_named(name)))
        assert bound in samples[catalog.REQUEST_LATENCY.series[0]], f"the latency SLO reads le={bound!r}"
