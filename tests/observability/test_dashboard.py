"""The Grafana dashboard: valid JSON in a sidecar-labelled ConfigMap, unique ids, panels that do not
overlap, a row per extra tier (edge pools, router), and queries that read only known series (their
parsing is checked against a real Prometheus in test_prometheus_server.py).
"""

from __future__ import annotations

import json

from tests.support.observability import config_named
from tests.support.promql_names import series_names
from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.infra.config import DeploymentConfig
from voxdeploy.infra.observability import external, objects, router
from voxdeploy.infra.observability.dashboard import dashboard_config_map, dashboard_file, panels
from voxdeploy.infra.observability.watch import recording_rules, watches

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
        {
            "observability": {
                "dashboard": {
                    "namespace": "monitoring",
                    "folder": "Speech",
                    "labels": {"dash": "yes"},
                    "folderAnnotation": "k8s-sidecar-target-directory",
                }
            }
        }
    )
    metadata = dashboard_config_map(config)["metadata"]
    assert metadata["namespace"] == "monitoring"
    assert metadata["name"] == "voxdeploy-dashboard.voxcpm.voxcpm", (
        "a name no other stack renders in a shared namespace"
    )
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
        if panel["type"] == "row":
            continue
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(target["expr"] for target in panel["targets"])


def test_panels_cover_what_the_issue_lists() -> None:
    titles = {panel.title for panel in panels(DeploymentConfig())}
    assert {
        "Requests per second",
        "Request latency",
        "Real-time factor",
        "Time to first audio",
        "In flight and queued",
        "Errors by code",
        "Engine restarts and readiness",
        "GPU memory used",
    } <= titles


def test_queries_read_only_catalogue_pinned_engine_recorded_and_named_external_series(config: DeploymentConfig) -> None:
    recorded = {str(rule["record"]) for rule in recording_rules(config)}
    used = {name for panel in panels(config) for query in panel.queries for name in series_names(query.expr)}
    assert used - recorded - CATALOGUE_SERIES - engine_catalog.ENGINE_SERIES - external.NAMES == set()


def test_slo_lines_follow_the_stack() -> None:
    config = DeploymentConfig.model_validate({"slo": {"p95LatencySeconds": 3.5}})
    latency = next(panel for panel in loaded(config)["panels"] if panel["title"] == "Request latency")
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == 3.5


def rows(config: DeploymentConfig) -> dict[str, list[str]]:
    """Row title -> titles of the panels under it ("" for those above the first row)."""
    result: dict[str, list[str]] = {"": []}
    current = ""
    for panel in sorted(loaded(config)["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])):
        if panel["type"] == "row":
            current = panel["title"]
            result[current] = []
        else:
            result[current].append(panel["title"])
    return result


def test_each_tier_gets_its_row() -> None:
    hybrid, edge = rows(config_named("hybrid")), rows(config_named("edge"))
    assert list(hybrid) == ["", "Edge pools", "Hybrid router"]
    assert "Request latency" in hybrid[""] and "Router upstream latency p95 by tier" in hybrid["Hybrid router"]
    assert list(edge) == ["", "Edge pools"] and edge[""] == [], "an edge-only stack has only the edge row"
    assert list(rows(DeploymentConfig())) == [""]


def test_router_row_shows_p95_upstream_latency_per_tier() -> None:
    config = config_named("hybrid")
    (panel,) = [p for p in router.panels(config) if p.title == "Router upstream latency p95 by tier"]
    (query,) = panel.queries
    assert query.legend == "{{tier}}" and query.expr.startswith(router.UPSTREAM_P95 + "{")
    (record,) = [r for r in recording_rules(config) if r["record"] == router.UPSTREAM_P95]
    assert "histogram_quantile(0.95" in record["expr"] and "(namespace, service, tier, le)" in record["expr"]


def test_the_dashboard_goes_with_the_first_watched_tier(config: DeploymentConfig) -> None:
    """One dashboard per environment: with the cloud tier's objects, else with the edge pools' (edge-only stacks)."""
    carriers = [w.concern for w in watches(config) if any(o["kind"] == "ConfigMap" for o in objects(config, w.concern))]
    assert carriers == [watches(config)[0].concern]
    (dashboard,) = [o for o in objects(config, carriers[0]) if o["kind"] == "ConfigMap"]
    assert dashboard == dashboard_config_map(config)
