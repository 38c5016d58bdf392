"""The load-signal autoscalers: KEDA ScaledObject against KEDA's CRD schema, the custom-metrics HPA against
Kubernetes' own, and prometheus-adapter rules that name only series the runtime exports (its own, and the
engine's pinned ones it forwards); promtool's PromQL engine answers each query with the load it must read."""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.support.alert_cases import Series, gauge, scraped
from tests.support.observability import binary, run_unit_tests
from tests.support.schemas import KUBERNETES_VERSION, strict
from tests.support.stacks import REPO, STACKS, STACKS_DIR
from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.infra.builders import build_objects, cloud, scaling
from voxdeploy.infra.config import DeploymentConfig, load_stack
from voxdeploy.infra.config.scaling_signal import AdapterOptions, KedaOptions, ScalingSignal
from voxdeploy.infra.observability.promql import target_labels

KEDA_SCHEMA = strict(yaml.safe_load((REPO / "tests/fixtures/crds/keda-scaledobject-v1alpha1.yaml").read_text()))
EXPORTED_SERIES = {series for metric in catalog.CATALOGUE for series in metric.series} | engine_catalog.ENGINE_SERIES
"""What a runtime's /metrics serves: the catalogue, and on vLLM-Omni the engine's pinned series it forwards."""
SIGNALS = ("inFlight", "queued", "engineQueue", "p95Rtf")


def prod() -> DeploymentConfig:
    return load_stack("prod", STACKS_DIR).config


def objects(signal: ScalingSignal, config: DeploymentConfig | None = None) -> list[dict]:
    config = config or prod()
    return scaling.signal_autoscaler(config, cloud.identity(config), signal)


def series_in(promql: str) -> set[str]:
    """Metric names a query reads: identifiers followed by a selector (adapter templates stripped)."""
    return set(re.findall(r"([a-z_:][a-z0-9_:]*)\{", promql.replace("<<.Series>>", "")))


@pytest.mark.parametrize("metric", SIGNALS)
def test_scaled_object_validates_against_kedas_schema(metric: str) -> None:
    (scaled,) = objects(ScalingSignal(metric=metric, backend="keda"))
    jsonschema.validate(scaled, KEDA_SCHEMA)
    spec = scaled["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 10)
    assert spec["fallback"] == {"failureThreshold": 3, "replicas": 10}
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["name"] == "voxcpm"  # the CPU HPA's, taken over
    assert scaled["metadata"]["annotations"] == {"scaledobject.keda.sh/transfer-hpa-ownership": "true"}
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["ignoreNullValues"] == "false"
    assert series_in(trigger["metadata"]["query"]) <= EXPORTED_SERIES


def test_scaled_object_targets_and_queries() -> None:
    signal = ScalingSignal(metric="inFlight", keda=KedaOptions(fallback_replicas=4, failure_threshold=5))
    (scaled,) = objects(signal)
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["threshold"] == "80"  # 80% of prod's 100 slots per pod
    assert trigger["metadata"]["query"] == 'sum (voxdeploy_requests_in_flight{namespace="voxcpm",service="voxcpm"})'
    assert scaled["spec"]["fallback"] == {"failureThreshold": 5, "replicas": 4}
    (rtf,) = objects(ScalingSignal(metric="p95Rtf", target=0.14, rtf_window="1m"))[0]["spec"]["triggers"]
    assert (rtf["metricType"], rtf["metadata"]["threshold"]) == ("Value", "0.14")
    assert "rate(voxdeploy_real_time_factor_bucket{" in rtf["metadata"]["query"]
    assert rtf["metadata"]["query"].endswith("[1m])))")
    (queued,) = objects(ScalingSignal(metric="queued"))[0]["spec"]["triggers"]
    assert series_in(queued["metadata"]["query"]) == {"voxdeploy_requests_in_flight", "voxdeploy_requests_queued"}
    (engine,) = objects(ScalingSignal(metric="engineQueue"))[0]["spec"]["triggers"]
    assert (engine["metricType"], engine["metadata"]["threshold"]) == ("AverageValue", "80")  # the runtime's slots
    assert engine["metadata"]["query"] == (
        'sum (vllm_omni:num_requests_waiting{namespace="voxcpm",service="voxcpm"}) + '
        'sum (vllm_omni:num_requests_running{namespace="voxcpm",service="voxcpm"})'
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda so: so["spec"].update(fallbackReplicas=3),  # unknown field
        lambda so: so["spec"]["triggers"][0]["metadata"].update(threshold=80),  # metadata values are strings
        lambda so: so["spec"].pop("triggers"),  # required
        lambda so: so["spec"]["fallback"].update(replicas=-1),
    ],
    ids=["unknown-field", "numeric-threshold", "no-triggers", "negative-fallback"],
)
def test_keda_schema_rejects_a_broken_scaled_object(mutate: Callable[[dict], object]) -> None:
    (scaled,) = objects(ScalingSignal(metric="inFlight"))
    broken = copy.deepcopy(scaled)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, KEDA_SCHEMA)


@pytest.mark.parametrize("metric", SIGNALS)
def test_custom_metrics_hpa_is_valid_kubernetes(metric: str) -> None:
    hpa, config_map = objects(ScalingSignal(metric=metric, backend="hpaCustom"))
    for obj in (hpa, config_map):
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    (spec_metric,) = hpa["spec"]["metrics"]
    assert spec_metric["type"] == ("External" if metric == "p95Rtf" else "Pods")
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600


def test_hpa_metrics_are_the_ones_the_adapter_serves() -> None:
    served = {rule["name"]["as"] for rules in scaling.adapter_rules(ScalingSignal()).values() for rule in rules}
    for metric in SIGNALS:
        (hpa_metric,) = objects(ScalingSignal(metric=metric, backend="hpaCustom"))[0]["spec"]["metrics"]
        assert hpa_metric[hpa_metric["type"].lower()]["metric"]["name"] in served


def test_adapter_rules_read_only_catalogue_series() -> None:
    _, config_map = objects(
        ScalingSignal(
            metric="queued", backend="hpaCustom", adapter=AdapterOptions(namespace="observability", config_map="rules")
        )
    )
    assert (config_map["metadata"]["namespace"], config_map["metadata"]["name"]) == ("observability", "rules")
    document = yaml.safe_load(config_map["data"]["config.yaml"])
    rules = document["rules"] + document["externalRules"]
    assert len(rules) == 4
    for rule in rules:
        read = series_in(rule["seriesQuery"]) | series_in(rule["metricsQuery"])
        read |= set(re.findall(r"\^([\w:]+)\$", rule["name"]["matches"]))
        assert read and read <= EXPORTED_SERIES, rule
        assert ":" not in rule["name"]["as"], "an API path segment"


def test_adapter_rules_are_the_same_for_every_stack() -> None:
    """One adapter serves a cluster and mounts one stack's copy: that copy must serve every stack's HPA."""
    signal = ScalingSignal(metric="inFlight", backend="hpaCustom")
    dev = load_stack("dev", STACKS_DIR).config
    assert objects(signal, dev)[1]["data"] == objects(signal)[1]["data"]


def shared_monitoring(config: DeploymentConfig) -> DeploymentConfig:
    """The stack scaled through prometheus-adapter, its dashboard in the shared `monitoring` namespace too."""
    data = config.model_dump(by_alias=True)
    data["cloud"]["autoscaling"]["signal"] = {"metric": "inFlight", "backend": "hpaCustom"}
    data["observability"]["dashboard"]["namespace"] = "monitoring"
    return DeploymentConfig.model_validate(data)


def shared_objects(configs: list[DeploymentConfig]) -> list[tuple[object, ...]]:
    """(apiVersion, kind, namespace, name) of every object more than one of the stacks renders."""
    keys = Counter(
        (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        for config in configs
        for obj in build_objects(config)
    )
    return [key for key, count in keys.items() if count > 1]


def test_stacks_sharing_a_cluster_or_a_namespace_own_no_object_together() -> None:
    """Each stack (Pulumi stack, GitOps app) owns its objects alone; one it shared would be overwritten by the
    other, or deleted with it. Every bundled stack in one cluster; then prod and a second prod environment in
    the same namespace (a different tier name, the namespace created once)."""
    every = [shared_monitoring(load_stack(stack, STACKS_DIR).config) for stack in STACKS]
    monitoring = [
        obj for config in every for obj in build_objects(config) if obj["metadata"].get("namespace") == "monitoring"
    ]
    assert {obj["kind"] for obj in monitoring} == {"ConfigMap"} and len(monitoring) > len(STACKS), "adapter + dashboard"
    assert shared_objects(every) == []
    second = prod().model_dump(by_alias=True)
    second["cloud"]["name"] = "voxcpm-eu"
    eu = DeploymentConfig.model_validate({**second, "environment": "prod-eu", "createNamespace": False})
    assert eu.namespace == prod().namespace
    assert shared_objects([shared_monitoring(prod()), shared_monitoring(eu)]) == []


def test_the_adapter_config_map_is_named_after_the_stack_unless_named() -> None:
    signal = ScalingSignal(metric="inFlight", backend="hpaCustom")
    config = prod()
    (_, config_map) = objects(signal, config)
    assert config_map["metadata"]["name"] == f"voxdeploy-adapter.{config.namespace}.{config.cloud.name}"
    named = signal.model_copy(update={"adapter": AdapterOptions(config_map="voxdeploy-rules")})
    assert objects(named, config)[1]["metadata"]["name"] == "voxdeploy-rules"


def test_cpu_is_not_a_prometheus_signal() -> None:
    with pytest.raises(ValueError, match="cpuTargetPercent"):
        ScalingSignal().target_value(100, 0.15)
    with pytest.raises(ValueError, match="not read from Prometheus"):
        scaling.prometheus_query(prod(), ScalingSignal())


LOAD = {"voxcpm-a": (3.0, 8.0), "voxcpm-b": (0.0, 5.0)}
"""Per pod: requests waiting and running, as the runtime (queued, in flight) and the engine (waiting, running)
report them."""


def scraped_load(config: DeploymentConfig) -> list[Series]:
    """The tier's pods under LOAD, with decoys every query must leave out: another namespace's pod, and vLLM's
    per-stage scheduler series, which count the same requests again."""
    namespace, service = target_labels(config)["namespace"], target_labels(config)["service"]
    series = []
    for where, pods in ((namespace, LOAD), (f"{namespace}-other", {"other-a": (100.0, 100.0)})):
        for pod, (waiting, running) in pods.items():
            target = scraped(where, service, pod)
            runtime, engine = {**target, "engine": "vllm-omni"}, {**target, "model_name": "openbmb/VoxCPM2"}
            stage = {**engine, "stage": "0", "replica": "0"}
            series += [
                gauge(catalog.QUEUED.name, runtime, waiting),
                gauge(catalog.IN_FLIGHT.name, runtime, running),
                gauge(engine_catalog.OMNI_REQUESTS_WAITING.name, engine, waiting),
                gauge(engine_catalog.OMNI_REQUESTS_RUNNING.name, engine, running),
                gauge(engine_catalog.VLLM_REQUESTS_WAITING.name, stage, waiting),
                gauge(engine_catalog.VLLM_REQUESTS_RUNNING.name, stage, running),
            ]
    return series


PER_POD = {
    "inFlight": {pod: running for pod, (_, running) in LOAD.items()},
    "queued": {pod: waiting + running for pod, (waiting, running) in LOAD.items()},
    "engineQueue": {pod: waiting + running for pod, (waiting, running) in LOAD.items()},
}
"""What each per-pod signal must read for each pod of LOAD."""


def adapter_query(rule: dict, namespace: str, pods: list[str]) -> str:
    """A rule's metricsQuery as prometheus-adapter expands it for an HPA's Pods metric over the given pods."""
    (series,) = re.findall(r"\^([\w:]+)\$", rule["name"]["matches"])
    matchers = f'namespace="{namespace}",pod=~"{"|".join(pods)}"'
    query = rule["metricsQuery"]
    return query.replace("<<.Series>>", series).replace("<<.LabelMatchers>>", matchers).replace("<<.GroupBy>>", "pod")


@pytest.mark.parametrize("metric", PER_POD)
def test_both_backends_read_the_load_from_the_scraped_series(metric: str, tmp_path: Path) -> None:
    """KEDA's query answers the tier's total (KEDA divides by the replicas, AverageValue); the adapter's rule,
    expanded as the adapter does, answers each pod's own value for the HPA's Pods metric."""
    config = prod()
    signal = ScalingSignal(metric=metric)
    served = scaling.hpa_metric(config, signal)["pods"]["metric"]["name"]
    (rule,) = [rule for rule in scaling.adapter_rules(signal)["rules"] if rule["name"]["as"] == served]
    per_pod = PER_POD[metric]
    checks = [
        {
            "expr": scaling.prometheus_query(config, signal),
            "eval_time": "0m",
            "exp_samples": [{"labels": "{}", "value": sum(per_pod.values())}],
        },
        {
            "expr": adapter_query(rule, config.namespace, list(per_pod)),
            "eval_time": "0m",
            "exp_samples": [{"labels": f'{{pod="{pod}"}}', "value": value} for pod, value in per_pod.items()],
        },
    ]
    test = {
        "name": f"{metric} over prod's pods",
        "interval": "1m",
        "input_series": [s.promtool(0) for s in scraped_load(config)],
        "promql_expr_test": checks,
    }
    assert "SUCCESS" in run_unit_tests(binary("promtool"), config, [test], tmp_path)
