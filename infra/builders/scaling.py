"""Autoscaling on a load signal: a KEDA ScaledObject, or an HPA on custom metrics plus prometheus-adapter rules.

Pure functions like every builder. Queries are built from the metric catalogue's names (and, for engineQueue,
the engine series pinned in contracts/engine_metrics.py, which the runtime forwards) and select the tier's pods
by the target labels every rule and panel uses (`namespace`, `service`), so a scaler can never watch a series
the runtime does not export.
"""

from __future__ import annotations

import yaml

from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.contracts.metrics import Metric
from voxdeploy.infra.builders import meta, workloads
from voxdeploy.infra.builders.workloads import Component, KubeObject
from voxdeploy.infra.config.canary import ROLLOUT_API
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.scaling_signal import ScalingSignal
from voxdeploy.infra.observability import external
from voxdeploy.infra.observability.promql import aggregate, histogram_quantile, number, selector, target_labels

QUEUED_OR_IN_FLIGHT = f"{catalog.QUEUED.name}_with_in_flight"
"""Per-pod custom metric the adapter serves for the queued signal: requests waiting plus being synthesized."""
ENGINE_WAITING_OR_RUNNING = "vllm_omni_requests_waiting_with_running"
"""Per-pod custom metric the adapter serves for the engineQueue signal: vLLM-Omni's requests waiting plus running
(no colon: the name is a path segment of the custom metrics API)."""
RTF_P95 = f"{catalog.REAL_TIME_FACTOR.name}_p95"
"""External metric the adapter serves for the p95Rtf signal."""
KEDA_TRANSFER_HPA = "scaledobject.keda.sh/transfer-hpa-ownership"
"""KEDA adopts an existing HPA of the name in horizontalPodAutoscalerConfig instead of refusing the workload."""
ADAPTER_CONFIG_KEY = "config.yaml"
"""The key prometheus-adapter's chart mounts (`rules.existing: <ConfigMap>`) and reads with --config."""


def workload_ref(config: DeploymentConfig) -> dict[str, str]:
    """What the cloud tier's autoscaler scales: the Deployment, or the Argo Rollouts Rollout, whose CRD declares the
    /scale subresource (v1.9.1 manifests/crds/rollout-crd.yaml: specReplicasPath .spec.replicas), so HPAs and KEDA
    scale it the same way (KEDA v2.20.2 scales any target through the scale client, controllers/keda/
    scaledobject_controller.go)."""
    if config.cloud.canary:
        return {"apiVersion": ROLLOUT_API, "kind": "Rollout", "name": config.cloud.name}
    return workloads.deployment_ref(config.cloud.name)


def signal_target(config: DeploymentConfig, signal: ScalingSignal) -> float:
    """The signal's target in force for this stack."""
    return signal.target_value(config.cloud.server.max_concurrent_requests, config.slo.p95_rtf)


def prometheus_query(config: DeploymentConfig, signal: ScalingSignal) -> str:
    """PromQL of the signal over the whole tier: a total for per-pod signals, the service's p95 for RTF.

    `queued` counts requests being synthesized too: the queue alone reads 0 whenever pods keep up, which
    would scale to minReplicas and back in a loop; the sum is the demand, and unlike in-flight (capped by
    the runtime's slots) it keeps growing with an overload, so one decision can add enough pods.

    `engineQueue` adds running to waiting for the same reason: vLLM-Omni's queue is empty whenever the engine
    keeps up, which by design (maxNumSeqs >= maxConcurrentRequests) is until its KV cache fills. It is the
    engine's own count of what it holds, so it is capped by the runtime's slots like in-flight; the runtime's
    admission queue in front of it is invisible to it. Its series are per pod (`model_name` only), so the sum
    over the tier needs no care for vLLM's per-stage series.
    """
    labels = target_labels(config)
    if signal.metric == "p95Rtf":
        return histogram_quantile(0.95, catalog.REAL_TIME_FACTOR, labels, signal.rtf_window, ())

    def total(metric: Metric) -> str:
        return aggregate("sum", (), f"{metric.name}{selector(labels)}")

    if signal.metric == "inFlight":
        return total(catalog.IN_FLIGHT)
    if signal.metric == "queued":
        return f"{total(catalog.IN_FLIGHT)} + {total(catalog.QUEUED)}"
    if signal.metric == "engineQueue":
        return f"{total(engine_catalog.OMNI_REQUESTS_WAITING)} + {total(engine_catalog.OMNI_REQUESTS_RUNNING)}"
    raise ValueError(f"{signal.metric} is not read from Prometheus")


def _metric_type(signal: ScalingSignal) -> str:
    """Per-pod signals are averaged over the replicas; the p95 RTF is the service's own value."""
    return "Value" if signal.metric == "p95Rtf" else "AverageValue"


def _trigger(signal: ScalingSignal, metric_type: str, query: str, **metadata: str) -> dict[str, object]:
    """A prometheus trigger; KEDA's metadata values are all strings."""
    address = signal.keda.prometheus_address
    return {
        "type": "prometheus",
        "metricType": metric_type,
        "metadata": {"serverAddress": address, "query": query, **metadata},
    }


def no_pod_available(config: DeploymentConfig, c: Component) -> str:
    """0 while the tier's Deployment has no available pod (kube-state-metrics), else nothing."""
    labels = {"namespace": config.namespace, external.DEPLOYMENT_LABEL: c.name}
    return f"{aggregate('sum', (), f'{external.DEPLOYMENT_AVAILABLE_REPLICAS}{selector(labels)}')} == 0"


def batch_activation_query(config: DeploymentConfig) -> str:
    """1 while the stack's batch Job has pods pending or running (kube-state-metrics), else 0."""
    labels = {"namespace": config.namespace, external.JOB_LABEL: config.batch.name}
    return f"{aggregate('sum', (), f'{external.JOB_ACTIVE}{selector(labels)}')} > bool 0"


def triggers(config: DeploymentConfig, c: Component, signal: ScalingSignal) -> list[dict[str, object]]:
    """The load signal's trigger; with minReplicas 0, activation thresholds and the batch Job's trigger.

    Scaling to zero and back is KEDA's alone (the HPA it makes never goes below 1): the tier goes to zero once
    every trigger has been inactive (value <= activationThreshold) for KEDA's cooldown, and comes back when one is
    active. At zero no runtime pod exports anything, so the load signal cannot wake the tier: the batch Job can,
    by its presence (`kube_job_status_active{namespace, job_name} > 0`); its target of 1 holds one pod while the
    Job runs, and the load signal adds the rest. The load query reads 0, not nothing, while no pod is available
    (at zero, or the first one starting): an empty answer is an error (ignoreNullValues false), and KEDA answers an
    error at zero with the fallback replicas; once a pod is available, no series is an error again, as above zero.
    The Job's query may be empty (no Job yet, or deleted after its TTL), which means no batch. idleReplicaCount
    stays unset: KEDA wants it below minReplicaCount, which is 0 already.
    """
    query, threshold = prometheus_query(config, signal), number(signal_target(config, signal))
    if config.cloud.autoscaling.min_replicas > 0:
        return [_trigger(signal, _metric_type(signal), query, threshold=threshold, ignoreNullValues="false")]
    return [
        _trigger(
            signal,
            _metric_type(signal),
            f"({query}) or ({no_pod_available(config, c)})",
            threshold=threshold,
            activationThreshold="0",
            ignoreNullValues="false",
        ),
        _trigger(
            signal,
            "AverageValue",
            batch_activation_query(config),
            threshold="1",
            activationThreshold="0",
            ignoreNullValues="true",
        ),
    ]


def scaled_object(config: DeploymentConfig, c: Component, signal: ScalingSignal) -> KubeObject:
    """keda.sh/v1alpha1 ScaledObject; KEDA creates (and owns) the HPA, named like the CPU one.

    The same name plus KEDA's transfer-hpa-ownership annotation let a running stack switch from the CPU
    HPA without KEDA's webhook refusing a workload another HPA scales, and keep the HPA-based alerts.
    `ignoreNullValues: "false"` makes an empty answer (series gone, labels wrong) an error like an
    unreachable Prometheus, so both end in the fallback replicas instead of a silent scale-in.
    """
    scaling = config.cloud.autoscaling
    fallback = signal.keda.fallback_replicas or scaling.max_replicas
    metadata = meta.metadata(config, c.name, c.labels)
    metadata["annotations"] = {KEDA_TRANSFER_HPA: "true"}
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": workload_ref(config),
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "fallback": {"failureThreshold": signal.keda.failure_threshold, "replicas": fallback},
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "name": c.name,
                    "behavior": {
                        "scaleUp": workloads.scaling_behavior(scaling.scale_up),
                        "scaleDown": workloads.scaling_behavior(scaling.scale_down),
                    },
                }
            },
            "triggers": triggers(config, c, signal),
        },
    }


def hpa_metric(config: DeploymentConfig, signal: ScalingSignal) -> dict[str, object]:
    """The autoscaling/v2 metric: a Pods metric for per-pod signals, an External one for the p95 RTF."""
    target = number(signal_target(config, signal))
    if signal.metric == "p95Rtf":
        return {
            "type": "External",
            "external": {
                "metric": {"name": RTF_P95, "selector": {"matchLabels": {"service": config.cloud.name}}},
                "target": {"type": "Value", "value": target},
            },
        }
    name = {
        "inFlight": catalog.IN_FLIGHT.name,
        "queued": QUEUED_OR_IN_FLIGHT,
        "engineQueue": ENGINE_WAITING_OR_RUNNING,
    }[signal.metric]
    return {
        "type": "Pods",
        "pods": {"metric": {"name": name}, "target": {"type": "AverageValue", "averageValue": target}},
    }


def custom_metrics_autoscaler(config: DeploymentConfig, c: Component, signal: ScalingSignal) -> KubeObject:
    """The CPU HPA's shape (bounds, behavior) with the signal's metric in place of CPU."""
    scaling = config.cloud.autoscaling
    hpa = workloads.cpu_autoscaler(
        config,
        c,
        scaling.min_replicas,
        scaling.max_replicas,
        scaling.cpu_target_percent,
        scaling.scale_up,
        scaling.scale_down,
        workload_ref(config),
    )
    spec = hpa["spec"]
    assert isinstance(spec, dict)
    spec["metrics"] = [hpa_metric(config, signal)]
    return hpa


def _pod_rule(series: str, exposed: str, metrics_query: str) -> dict[str, object]:
    return {
        "seriesQuery": f'{series}{{namespace!="",pod!=""}}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{series}$", "as": exposed},
        "metricsQuery": metrics_query,
    }


def adapter_rules(signal: ScalingSignal) -> dict[str, object]:
    """prometheus-adapter's config: every signal's rule, so stacks sharing one adapter render the same file.

    The rules match the catalogue's series in any namespace and the HPA's metric selector picks the stack, so
    one stack's file serves them all; only the p95Rtf window is the rendering stack's own.
    """
    in_flight, queued = catalog.IN_FLIGHT.name, catalog.QUEUED.name
    waiting, running = engine_catalog.OMNI_REQUESTS_WAITING.name, engine_catalog.OMNI_REQUESTS_RUNNING.name
    (rtf_bucket, *_) = catalog.REAL_TIME_FACTOR.series
    return {
        "rules": [
            _pod_rule(in_flight, in_flight, "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"),
            _pod_rule(
                queued,
                QUEUED_OR_IN_FLIGHT,
                f"sum(<<.Series>>{{<<.LabelMatchers>>}} + on (namespace, pod) "
                f"{in_flight}{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)",
            ),
            _pod_rule(
                waiting,
                ENGINE_WAITING_OR_RUNNING,
                f"sum(<<.Series>>{{<<.LabelMatchers>>}} + on (namespace, pod) "
                f"{running}{{<<.LabelMatchers>>}}) by (<<.GroupBy>>)",
            ),
        ],
        "externalRules": [
            {
                "seriesQuery": f'{rtf_bucket}{{namespace!="",service!=""}}',
                "resources": {"overrides": {"namespace": {"resource": "namespace"}}},
                "name": {"matches": f"^{rtf_bucket}$", "as": RTF_P95},
                "metricsQuery": f"histogram_quantile(0.95, sum by (le) "
                f"(rate(<<.Series>>{{<<.LabelMatchers>>}}[{signal.rtf_window}])))",
            }
        ],
    }


def adapter_config_map(config: DeploymentConfig, c: Component, signal: ScalingSignal) -> KubeObject:
    """The rules as a ConfigMap in the adapter's namespace, for the chart's `rules.existing`.

    prometheus-adapter reads exactly one rules file (--config) and cannot merge ConfigMaps, so each stack
    renders its own copy under its own name (meta.shared_name) and the platform team mounts one: the chart's
    `rules.existing` pointed at the ConfigMap of a stack that lives as long as the adapter, or that file's
    `rules` and `externalRules` copied into the chart's `rules.custom` and `rules.external`. Every stack's
    copy holds the same rules (adapter_rules), so the one mounted serves every stack's HPA; only a p95Rtf stack
    whose rtfWindow differs from the mounted copy's is scaled on the mounted window.
    """
    name = signal.adapter.config_map or meta.shared_name(config, "adapter", c.name)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": signal.adapter.namespace, "labels": c.labels},
        "data": {ADAPTER_CONFIG_KEY: yaml.safe_dump(adapter_rules(signal), sort_keys=False)},
    }


def signal_autoscaler(config: DeploymentConfig, c: Component, signal: ScalingSignal) -> list[KubeObject]:
    """The objects that scale the tier on a Prometheus signal (never cpu, which stays the plain HPA)."""
    if signal.backend == "keda":
        return [scaled_object(config, c, signal)]
    return [custom_metrics_autoscaler(config, c, signal), adapter_config_map(config, c, signal)]
