"""The rendered rules, PrometheusRules and ServiceMonitors of every tier: valid for promtool and the
operator's CRDs, built only from known series (the catalogue's, recorded ones, pinned engine ones), selecting
exactly the Services they watch, and identical between the operator objects and the plain rule file.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from tests.support.observability import run_promtool
from tests.support.promql_names import series_names
from tests.support.schemas import validate_object
from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.infra.builders import build_groups, build_objects, meta, workloads
from voxdeploy.infra.config import DeploymentConfig
from voxdeploy.infra.observability import external, objects
from voxdeploy.infra.observability.dashboard import panels
from voxdeploy.infra.observability.rules import prometheus_rule, rule_file, rule_groups
from voxdeploy.infra.observability.scrape import scrape_configs, service_monitor
from voxdeploy.infra.observability.watch import alert_rules, recording_rules, watch_of, watches

CATALOGUE_SERIES = {series for metric in catalog.CATALOGUE for series in metric.series}


def rule_exprs(config: DeploymentConfig) -> list[str]:
    return [str(rule["expr"]) for group in rule_groups(config) for rule in group["rules"]]


def test_promtool_accepts_the_rule_file(config: DeploymentConfig, promtool: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rule_file(config), sort_keys=False))
    output = run_promtool(promtool, "check", "rules", path)
    assert f"SUCCESS: {sum(len(g['rules']) for g in rule_groups(config))} rules found" in output


def test_promtool_accepts_the_scrape_config(config: DeploymentConfig, promtool: str, tmp_path: Path) -> None:
    jobs = scrape_configs(config)
    assert [job["job_name"] for job in jobs] == [f"voxdeploy/{w.namespace}/{w.name}" for w in watches(config)]
    for job in jobs:
        (discovery,) = job.pop("kubernetes_sd_configs")
        assert discovery == {"role": "endpointslice", "namespaces": {"names": [config.namespace]}}
        # Debian's Prometheus is built without Kubernetes discovery, so promtool checks the rest of the job
        # (intervals, relabelling) with a static target in its place.
        job["static_configs"] = [{"targets": ["127.0.0.1:8000"]}]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_file(config)))
    prometheus = {"rule_files": ["rules.yaml"], "scrape_configs": jobs}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prometheus))
    run_promtool(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)


def test_scrape_config_gives_the_labels_the_rules_select_on(config: DeploymentConfig) -> None:
    for watch, job in zip(watches(config), scrape_configs(config), strict=True):
        targets = {relabel["target_label"] for relabel in job["relabel_configs"] if "target_label" in relabel}
        assert {"namespace", "service", "pod"} <= targets
        kept = {relabel["regex"] for relabel in job["relabel_configs"] if relabel.get("action") == "keep"}
        assert kept == {"|".join(watch.services), workloads.METRICS_PORT_NAME}


def test_rules_read_only_catalogue_recorded_and_named_external_series(config: DeploymentConfig) -> None:
    """The engine's own series count as known only where pinned to its version (contracts/engine_metrics.py)."""
    recorded = {str(rule["record"]) for rule in recording_rules(config)}
    used = {name for expr in rule_exprs(config) for name in series_names(expr)}
    assert used - recorded - CATALOGUE_SERIES - engine_catalog.ENGINE_SERIES - external.NAMES == set()


def test_every_recording_rule_is_read_by_an_alert_or_the_dashboard(config: DeploymentConfig) -> None:
    readers = [alert.expr for alert in alert_rules(config)]
    readers += [query.expr for panel in panels(config) for query in panel.queries]
    read = {name for expr in readers for name in series_names(expr)}
    unread = {str(rule["record"]) for rule in recording_rules(config)} - read
    assert unread == set()


def test_every_alert_explains_itself(config: DeploymentConfig) -> None:
    base = config.observability.runbook_base_url
    for group in rule_groups(config):
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            annotations = rule["annotations"]
            assert set(annotations) == {"summary", "description", "runbook_url"}, rule["alert"]
            assert "$value" in annotations["description"], rule["alert"]
            assert annotations["runbook_url"].startswith(base + "/") and annotations["runbook_url"].endswith(".md")
            assert rule["labels"]["severity"] in ("info", "warning", "critical")


def test_defaults_follow_the_issue() -> None:
    rules = {rule["alert"]: rule for rule in rule_groups(DeploymentConfig())[1]["rules"]}
    latency, memory = rules["HighInferenceLatency"], rules["GPUMemoryHighUsage"]
    assert latency["expr"].endswith(" > 2") and latency["for"] == "5m" and latency["labels"]["severity"] == "warning"
    assert memory["expr"].endswith(" > 0.9") and memory["for"] == "3m" and memory["labels"]["severity"] == "critical"
    fast, slow = rules["AvailabilityBudgetBurnFast"]["expr"], rules["AvailabilityBudgetBurnSlow"]["expr"]
    assert "ratio_rate1h" in fast and "ratio_rate5m" in fast and "(14.4 * 0.01)" in fast
    assert "ratio_rate6h" in slow and "ratio_rate30m" in slow and "(6 * 0.01)" in slow


def test_thresholds_follow_the_stack_slo() -> None:
    config = DeploymentConfig.model_validate({"slo": {"p95LatencySeconds": 5, "p95Rtf": 0.3, "maxErrorRatio": 0.02}})
    exprs = {alert.name: alert.expr for alert in alert_rules(config)}
    assert exprs["HighInferenceLatency"].endswith(" > 5")
    assert exprs["HighRealTimeFactor"].endswith(" > 0.3")
    assert exprs["HighErrorRatio"].endswith(" > 0.02")
    assert 'le="5.0"' in str(recording_rules(config))


def test_switches_and_inapplicable_alerts_leave_rules_out() -> None:
    config = DeploymentConfig.model_validate(
        {
            "cloud": {"autoscaling": {"enabled": False}, "replicas": 0, "server": {"maxQueuedRequests": 0}},
            "observability": {"alerts": {"latencyBudgetBurn": False}},
        }
    )
    names = {alert.name for alert in alert_rules(config)}
    assert not names & {"CapacityExhausted", "RuntimeMetricsAbsent", "QueueSaturation", "LatencyBudgetBurnFast"}
    assert {"AvailabilityBudgetBurnFast", "AvailabilityBudgetBurnSlow"} <= names
    recorded = {str(rule["record"]) for rule in recording_rules(config)}
    assert not any("_slow:ratio_rate" in name for name in recorded), "only the disabled alerts read them"


def test_both_slos_share_one_list_of_burn_rate_windows() -> None:
    windows = [
        {
            "name": "Page",
            "longWindow": "1h",
            "shortWindow": "5m",
            "burnRate": 14.4,
            "for": "2m",
            "severity": "critical",
        },
        {"name": "Ticket", "longWindow": "3d", "shortWindow": "6h", "burnRate": 1, "for": "1h", "severity": "info"},
        {
            "name": "Off",
            "enabled": False,
            "longWindow": "1d",
            "shortWindow": "2h",
            "burnRate": 3,
            "for": "1h",
            "severity": "warning",
        },
    ]
    config = DeploymentConfig.model_validate({"observability": {"alerts": {"burnRates": windows}}})
    burns = {alert.name: alert for alert in alert_rules(config) if "BudgetBurn" in alert.name}
    assert set(burns) == {
        f"{slo}BudgetBurn{speed}" for slo in ("Availability", "Latency") for speed in ("Page", "Ticket")
    }
    assert burns["LatencyBudgetBurnTicket"].settings is burns["AvailabilityBudgetBurnTicket"].settings
    assert "ratio_rate3d" in burns["LatencyBudgetBurnTicket"].expr
    recorded = {str(rule["record"]) for rule in recording_rules(config)}
    assert not any(name.endswith("ratio_rate1d") or name.endswith("ratio_rate2h") for name in recorded)


def test_burn_rate_window_names_are_distinct() -> None:
    window = {
        "name": "Fast",
        "longWindow": "1h",
        "shortWindow": "5m",
        "burnRate": 14.4,
        "for": "2m",
        "severity": "critical",
    }
    with pytest.raises(ValidationError, match="distinct"):
        DeploymentConfig.model_validate({"observability": {"alerts": {"burnRates": [window, window]}}})


def test_prometheus_rules_carry_the_rule_file_and_match_their_crd(config: DeploymentConfig) -> None:
    objs = [prometheus_rule(config, watch) for watch in watches(config)]
    for obj in objs:
        validate_object(obj)
    assert [group for obj in objs for group in obj["spec"]["groups"]] == rule_file(config)["groups"]


def selects(selector: dict, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes LabelSelector (matchLabels, matchExpressions with In) matches labels."""
    expressions = selector.get("matchExpressions", [])
    assert all(e["operator"] == "In" for e in expressions), "teach selects() the other operators"
    return selector.get("matchLabels", {}).items() <= labels.items() and all(
        labels.get(e["key"]) in e["values"] for e in expressions
    )


def test_service_monitors_select_exactly_their_services_and_match_their_crd(config: DeploymentConfig) -> None:
    services = [obj for obj in build_objects(config) if obj["kind"] == "Service"]
    for watch in watches(config):
        obj = service_monitor(config, watch)
        validate_object(obj)
        chosen = [svc for svc in services if selects(obj["spec"]["selector"], svc["metadata"]["labels"])]
        assert sorted(svc["metadata"]["name"] for svc in chosen) == sorted(watch.services)
        assert obj["spec"]["namespaceSelector"]["matchNames"] == [config.namespace]
        (endpoint,) = obj["spec"]["endpoints"]
        assert all(endpoint["port"] in {port["name"] for port in svc["spec"]["ports"]} for svc in chosen)
        assert endpoint["path"] == "/metrics"


def test_crd_validation_catches_a_typo() -> None:
    config = DeploymentConfig()
    obj = prometheus_rule(config, watch_of(config, "cloud"))
    obj["spec"]["groups"][0]["rules"][0]["recrod"] = "x"
    with pytest.raises(jsonschema.ValidationError):
        validate_object(obj)


def test_selector_labels_reach_the_operator_objects() -> None:
    release = {"release": "kube-prometheus-stack"}
    config = DeploymentConfig.model_validate(
        {"observability": {"selectorLabels": release}, "hybrid": {"enabled": True}}
    )
    assert {watch.concern for watch in watches(config)} == {"cloud", "hybrid"}
    for watch in watches(config):
        ours = meta.selector_labels(config, watch.name, "monitoring")
        for obj in (prometheus_rule(config, watch), service_monitor(config, watch)):
            assert obj["metadata"]["labels"].items() >= {**ours, **release}.items()


def test_render_and_pulumi_get_the_observability_objects(cloud_config: DeploymentConfig) -> None:
    config = cloud_config
    kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in build_objects(config)}
    name = config.cloud.name
    assert {("PrometheusRule", name), ("ServiceMonitor", name), ("ConfigMap", f"{name}-dashboard")} <= kinds
    assert "cloud-observability" in [g.concern for g in build_groups(config)]


def test_build_groups_create_every_tiers_observability(config: DeploymentConfig) -> None:
    """What `objects(config, concern)` makes is what render and Pulumi create, group for group."""
    groups = {group.concern: group.objects for group in build_groups(config)}
    for watch in watches(config):
        assert groups.get(f"{watch.concern}-observability") == tuple(objects(config, watch.concern)), watch.concern


def test_a_stack_without_cloud_tier_gets_no_observability_objects() -> None:
    config = DeploymentConfig.model_validate({"cloud": {"enabled": False}})
    assert "cloud-observability" not in [g.concern for g in build_groups(config)]
    assert watches(config) == [] and objects(config) == [] and rule_file(config) == {"groups": []}


def test_observability_switches_remove_the_objects() -> None:
    config = DeploymentConfig.model_validate(
        {"observability": {"prometheusRule": False, "serviceMonitor": False, "dashboard": {"enabled": False}}}
    )
    assert not {"PrometheusRule", "ServiceMonitor"} & {obj["kind"] for obj in build_objects(config)}
    assert "cloud-observability" not in [g.concern for g in build_groups(config)]
