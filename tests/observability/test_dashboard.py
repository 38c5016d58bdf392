"""The Grafana dashboard: valid JSON in a sidecar-labelled ConfigMap, unique ids, panels that do not
overlap, and queries that read only known series (their parsing is checked against a real Prometheus
in test_prometheus_server.py).
"""

from __future__ import annotations

import json

from infra import metrics_catalog as catalog
from infra.config import DeploymentConfig
from infra.observability import external
from infra.observability.dashboard import dashboard_config_map, dashboard_file, panels
from infra.observability.recording import recording_rules
from tests.observability.promql_names import series_names

CATALOGUE_SERIES = {series for metric in catalog.CATALOGUE for series in metric.series}


def loaded(config: DeploymentConfig) -> dict:
    config_map = dashboard_config_map(config)
    (name,) = config_map["data"]
    assert name == dashboard_file(config)
    return json.loads(config_map["data"][name])


def test_config_map_is_labelled_for_the_grafana_sidecar(config: DeploymentConfig) -> None:
    metadata = dashboard_config_map(config)["metadata"]
    assert metadata["labels"]["grafana_dashboard"] == "1"
    assert metadata["annotations"] == {"grafana_folder": "VoxCPM"}
    assert metadata["namespace"] == config.namespace


def test_dashboard_namespace_folder_and_labels_come_from_config() -> None:
    config = DeploymentConfig.model_validate(
        {"observability": {"dashboard": {"namespace": "monitoring", "folder": "Speech", "labels": {"dash": "yes"},
                                         "folderAnnotation": "k8s-sidecar-target-directory"}}}
    )
    metadata = dashboard_config_map(config)["metadata"]
    assert metadata["namespace"] == "monitoring"
    assert metadata["labels"]["dash"] == "yes" and "grafana_dashboard" not in metadata["labels"]
    assert metadata["annotations"] == {"k8s-sidecar-target-directory": "Speech"}


def test_panel_ids_are_unique_and_panels_do_not_overlap(config: DeploymentConfig) -> None:
    board = loaded(config)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    cells = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        columns, rows = range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        area = {(x, y) for x in columns for y in rows}
        assert not cells & area, panel["title"]
        cells |= area


def test_every_panel_has_queries_with_distinct_ref_ids(config: DeploymentConfig) -> None:
    for panel in loaded(config)["panels"]:
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(target["expr"] for target in panel["targets"])


def test_panels_cover_what_the_issue_lists() -> None:
    titles = {panel.title for panel in panels(DeploymentConfig())}
    assert {
        "Requests per second", "Request latency", "Real-time factor", "Time to first audio", "In flight and queued",
        "Errors by code", "Engine restarts and readiness", "GPU memory used",
    } <= titles


def test_queries_read_only_catalogue_recorded_and_named_external_series(config: DeploymentConfig) -> None:
    recorded = {str(rule["record"]) for rule in recording_rules(config)}
    used = {name for panel in panels(config) for query in panel.queries for name in series_names(query.expr)}
    assert used - recorded - CATALOGUE_SERIES - external.NAMES == set()


def test_slo_lines_follow_the_stack() -> None:
    config = DeploymentConfig.model_validate({"slo": {"p95LatencySeconds": 3.5}})
    latency = next(panel for panel in loaded(config)["panels"] if panel["title"] == "Request latency")
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == 3.5
