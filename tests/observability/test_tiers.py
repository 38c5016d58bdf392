"""The edge pools and the hybrid router are watched too: which alerts each tier gets, with whose thresholds,
and recording rules that cover every runtime Service once.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.support.observability import CONFIG_NAMES, config_named
from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.infra.builders.cloud import runtime_settings as cloud_runtime
from voxdeploy.infra.builders.edge import runtime_settings as pool_runtime
from voxdeploy.infra.config import DeploymentConfig
from voxdeploy.infra.config.observability import TierAlerts
from voxdeploy.infra.observability import router
from voxdeploy.infra.observability.recording import LATENCY_P95, RTF_P95
from voxdeploy.infra.observability.rules import rule_file
from voxdeploy.infra.observability.scope import cloud_scope, edge_scope
from voxdeploy.infra.observability.watch import alert_rules, watch_of, watches

CLOUD_ONLY = {
    "GPUMemoryHighUsage",
    "CapacityExhausted",
    "RuntimeMetricsAbsent",
    "AvailabilityBudgetBurnFast",
    "AvailabilityBudgetBurnSlow",
    "LatencyBudgetBurnFast",
    "LatencyBudgetBurnSlow",
    "EngineKvCacheSaturated",
    "EngineMetricsDown",
}
"""Alerts that need NVML GPUs, an HPA, pods always expected, the service's SLO budgets or the engine's own series."""


def alerts_of(config: DeploymentConfig, concern: str) -> dict[str, object]:
    return {alert.name: alert for alert in alert_rules(config) if alert.concern == concern}


@pytest.mark.parametrize("name", ["edge", "hybrid"])
def test_edge_pools_get_the_engine_independent_alerts_only(name: str) -> None:
    edge = alerts_of(config_named(name), "edge")
    assert set(edge) == {
        "EdgeHighInferenceLatency",
        "EdgeHighRealTimeFactor",
        "EdgeHighErrorRatio",
        "EdgeQueueSaturation",
        "EdgeEngineCrashLooping",
        "EdgeRuntimeTargetDown",
    }
    assert not {f"Edge{cloud}" for cloud in CLOUD_ONLY} & set(edge)


def test_engine_alerts_follow_the_engine_each_tier_runs() -> None:
    """The scopes name the exposition of the engine their runtime is configured with: vLLM-Omni's in the cloud,
    none for the edge pools' llamacpp (llama-tts-server serves no /metrics)."""
    config = config_named("hybrid")
    exposing = {exposition.engine: exposition for exposition in engine_catalog.EXPOSITIONS}
    assert cloud_scope(config).exposition is exposing[cloud_runtime(config).engine.kind]
    assert edge_scope(config).exposition is None
    assert not {pool_runtime(config, pool).engine.kind for pool in config.edge.pools} & set(exposing)
    alerts = alerts_of(config, "cloud")
    assert alerts["EngineKvCacheSaturated"].expr == (
        f"max by (namespace, service, pod) ({engine_catalog.VLLM_KV_CACHE_USAGE.name}"
        f'{{namespace="{config.namespace}",service="{config.cloud.name}"}}) > 0.95'
    )
    assert alerts["EngineMetricsDown"].expr.endswith(
        f"({catalog.ENGINE_READY.name}{cloud_scope(config).selector} == 1)"
    )


def test_edge_target_down_waits_longer_than_the_clouds_and_is_configurable() -> None:
    config = config_named("hybrid")
    rules = {rule["alert"]: rule for group in rule_file(config)["groups"] for rule in group["rules"] if "alert" in rule}
    assert (rules["RuntimeTargetDown"]["for"], rules["EdgeRuntimeTargetDown"]["for"]) == ("5m", "30m")
    changed = DeploymentConfig.model_validate(
        {
            **config.model_dump(by_alias=True),
            "observability": {"alerts": {"edge": {"targetDown": {"for": "2h", "severity": "info"}}}},
        }
    )
    (down,) = [alert for alert in alert_rules(changed) if alert.name == "EdgeRuntimeTargetDown"]
    assert (down.settings.for_, down.settings.severity) == ("2h", "info")
    edge = changed.observability.alerts.edge
    assert edge.high_error_ratio.for_ == "10m", "alerts left out of alerts.edge keep the edge defaults"
    assert edge.high_real_time_factor.tolerance == 1.5


def test_cloud_and_edge_tiers_share_one_alert_model() -> None:
    latency = {"for": "5m", "severity": "warning", "thresholdSeconds": 4}
    config = DeploymentConfig.model_validate({"observability": {"alerts": {"highInferenceLatency": latency}}})
    alerts = config.observability.alerts
    assert type(alerts.edge) is TierAlerts and isinstance(alerts, TierAlerts)
    assert cloud_scope(config).latency_target == 4, "thresholdSeconds means the same in both tiers"


def test_edge_rtf_thresholds_come_from_each_pools_device() -> None:
    scope = edge_scope(config_named("edge"))
    assert {t.service: round(t.threshold, 3) for t in scope.rtf_targets} == {
        "edge-m4-pro": 2.64,
        "edge-jetson": 4.41,
        "edge-i9": 7.305,
        "edge-rpi5": 31.89,
    }
    (alert,) = [a for a in alert_rules(config_named("edge")) if a.name == "EdgeHighRealTimeFactor"]
    assert f'{RTF_P95}{{namespace="voxcpm-edge",service="edge-jetson"}} > 4.41' in alert.expr
    last = catalog.REAL_TIME_FACTOR.buckets[-1]
    assert f'{RTF_P95}{{namespace="voxcpm-edge",service="edge-rpi5"}} >= {last:g}' in alert.expr, (
        "past the histogram's last bucket the threshold could never be crossed"
    )


def test_a_device_without_a_measured_figure_falls_back_to_the_slo() -> None:
    config = DeploymentConfig.model_validate(
        {
            "slo": {"p95Rtf": 3.0},
            "edge": {"enabled": True, "pools": [{"name": "p", "device": "intel-i9-13900k", "quantization": "Q4_0"}]},
            "observability": {
                "alerts": {"edge": {"highRealTimeFactor": {"for": "5m", "severity": "warning", "tolerance": 2}}}
            },
        }
    )
    (target,) = edge_scope(config).rtf_targets
    assert target.threshold == 3.0 and "slo.p95Rtf" in target.why


def test_edge_latency_threshold_defaults_to_the_slo_and_can_be_set() -> None:
    def latency(**settings: object) -> str:
        edge = {
            "enabled": True,
            "pools": [{"name": "p", "device": "jetson-orin", "quantization": "Q4_K_M", "backend": "cuda"}],
        }
        alerts = {"edge": {"highInferenceLatency": {"for": "10m", "severity": "warning", **settings}}}
        config = DeploymentConfig.model_validate({"edge": edge, "observability": {"alerts": alerts}})
        (alert,) = [a for a in alert_rules(config) if a.name == "EdgeHighInferenceLatency"]
        return alert.expr

    assert latency() == f'{LATENCY_P95}{{namespace="voxcpm",service="edge-p"}} > 2'
    assert latency(thresholdSeconds=12.5).endswith(" > 12.5")


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_one_set_of_recording_rules_covers_every_runtime_service(name: str) -> None:
    config = config_named(name)
    records = [rule["record"] for group in rule_file(config)["groups"] for rule in group["rules"] if "record" in rule]
    assert len(records) == len(set(records)), "a recorded name twice is a promtool lint error"
    runtime = [w for w in watches(config) if w.concern in ("cloud", "edge")]
    carriers = [w.concern for w in runtime if w.recording]
    assert carriers == [runtime[0].concern] if runtime else carriers == []
    services = [service for watch in runtime for service in watch.services]
    for rule in runtime[0].recording if runtime else ():
        assert all(service in rule["expr"] for service in services), rule["record"]


def test_router_alerts_follow_their_settings() -> None:
    config = DeploymentConfig.model_validate(
        {
            "hybrid": {"enabled": True},
            "observability": {
                "alerts": {
                    "router": {
                        "tierUnavailable": {"for": "1m", "severity": "critical", "thresholdRatio": 0.05},
                        "fallbackRateHigh": {
                            "enabled": False,
                            "for": "10m",
                            "severity": "warning",
                            "thresholdRatio": 0.1,
                        },
                    }
                }
            },
        }
    )
    alerts = alerts_of(config, "hybrid")
    assert set(alerts) == {"RouterTierUnavailable", "RouterEndpointDown"}
    unavailable = alerts["RouterTierUnavailable"]
    assert unavailable.expr == f'{router.UNAVAILABLE_RATIO}{{namespace="voxcpm",service="voxcpm-router"}} > 0.05'
    assert unavailable.settings.for_ == "1m"
    assert alerts["RouterEndpointDown"].expr.startswith("max by (namespace, service, tier, endpoint) (")


def test_router_defaults() -> None:
    alerts = alerts_of(config_named("hybrid"), "hybrid")
    assert {name: (a.settings.for_, a.settings.severity) for name, a in alerts.items()} == {
        "RouterTierUnavailable": ("2m", "critical"),
        "RouterFallbackRateHigh": ("10m", "warning"),
        "RouterEndpointDown": ("5m", "warning"),
    }
    assert alerts["RouterFallbackRateHigh"].expr.endswith(" > 0.1")
    assert alerts["RouterTierUnavailable"].expr.endswith(" > 0.01")


def test_router_self_answers_are_the_runtimes_own_label() -> None:
    recording = watch_of(config_named("hybrid"), "hybrid").recording
    (record,) = [r for r in recording if r["record"] == router.UNAVAILABLE_RATIO]
    assert f'tier="{catalog.ROUTER_SELF}",code="{catalog.ROUTER_UNAVAILABLE}"' in record["expr"]


@pytest.mark.parametrize(
    "alerts",
    [
        {"router": {"tierUnavailable": {"for": "2m", "severity": "critical", "thresholdRatio": 0}}},
        {"router": {"fallbackRateHigh": {"for": "2m", "severity": "warning", "thresholdRatio": 1.5}}},
        {"router": {"endpointDown": {"for": "5 minutes", "severity": "warning"}}},
        {"edge": {"highRealTimeFactor": {"for": "10m", "severity": "warning", "tolerance": 0}}},
        {"edge": {"highInferenceLatency": {"for": "10m", "severity": "warning", "thresholdSeconds": -1}}},
        {"edge": {"targetDown": {"for": "30m", "severity": "page"}}},
        {"engineKvCacheSaturated": {"for": "5m", "severity": "warning", "thresholdRatio": 1}},
        {"edge": {"engineKvCacheSaturated": {"for": "5m", "severity": "warning"}}},
    ],
)
def test_bad_edge_and_router_settings_are_refused(alerts: dict) -> None:
    with pytest.raises(ValidationError):
        DeploymentConfig.model_validate({"observability": {"alerts": alerts}})
