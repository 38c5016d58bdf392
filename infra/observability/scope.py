"""The voxdeploy runtimes one set of engine-independent rules watches: the cloud tier, or every edge pool.

A runtime exports the same series whatever its engine (vLLM-Omni in the cloud, llama.cpp at the edge),
so the recording rules and the engine-independent alerts are written once, over a scope. What differs
between tiers is data here: which Services, which thresholds and alert settings, and the facts that
decide whether an alert can apply at all (NVML GPUs, an autoscaler, SLO budgets, pods always expected).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from voxdeploy.contracts.engine_metrics import VLLM_OMNI, EngineExposition
from voxdeploy.infra.builders import edge
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.edge import EdgePool
from voxdeploy.infra.config.observability import TierAlerts
from voxdeploy.infra.observability.promql import number, selector


@dataclass(frozen=True)
class RtfTarget:
    """The p95 real-time factor above which one Service alerts."""

    service: str
    threshold: float
    why: str
    """Where the figure comes from, for dashboards and runbooks."""


@dataclass(frozen=True)
class RuntimeScope:
    """Runtime Services watched together, and what their alerts compare against."""

    tier: Literal["cloud", "edge"]
    name: str
    """Name of the scope's ServiceMonitor and PrometheusRule, and the middle of its rule groups' names."""
    prefix: str
    """Alert-name prefix: "" keeps the names the issue gives the cloud tier's alerts; "Edge" for the pools."""
    namespace: str
    services: tuple[str, ...]
    alerts: TierAlerts
    """The tier's engine-independent alert settings (`alerts` for the cloud, `alerts.edge` for the pools)."""
    latency_target: float
    rtf_targets: tuple[RtfTarget, ...]
    rtf_target_text: str
    """How annotations name the RTF target (one number for the cloud, a rule for the edge pools)."""
    queue_capacity: int
    gpu: bool
    """The GPU-memory alert applies: NVML series of dedicated GPUs under vLLM's memory budget (the cloud pods).
    Edge devices share memory with the CPU or have no GPU; their runtime's memory is the pod's limit."""
    autoscaler: str | None
    """Name of the HorizontalPodAutoscaler that sizes the scope, if one does."""
    slo_budgets: bool
    """Burn-rate alerts watch the availability and latency SLOs here (the Service clients meet)."""
    always_running: bool
    """Pods are always expected, so no series at all is an outage (absent()), not an empty tier."""
    exposition: EngineExposition | None
    """The engine's own series the runtime forwards (vLLM-Omni's queue and KV cache); None where its engine
    serves none (llama-tts-server), so no alert reads engine series there."""

    @property
    def labels(self) -> dict[str, str]:
        """Equality matchers of the scope's series (one Service: its name is one of them)."""
        single = {"service": self.services[0]} if len(self.services) == 1 else {}
        return {"namespace": self.namespace, **single}

    @property
    def patterns(self) -> dict[str, str]:
        """Regex matchers of the scope's series: several Services (DNS labels, so no escaping is needed)."""
        return {} if len(self.services) == 1 else {"service": "|".join(self.services)}

    @property
    def selector(self) -> str:
        return selector(self.labels, **self.patterns)

    def service_selector(self, service: str) -> str:
        """Matchers of one of the scope's Services."""
        return selector({"namespace": self.namespace, "service": service})


def cloud_scope(config: DeploymentConfig) -> RuntimeScope:
    """The cloud tier: one Service, the stack's SLO as every threshold."""
    cloud, slo = config.cloud, config.slo
    settings = config.observability.alerts
    tolerance = settings.high_real_time_factor.tolerance
    rtf = slo.p95_rtf * tolerance
    rtf_why = "slo.p95Rtf" if tolerance == 1 else f"{number(tolerance)} x slo.p95Rtf"
    return RuntimeScope(
        tier="cloud",
        name=cloud.name,
        prefix="",
        namespace=config.namespace,
        services=(cloud.name,),
        alerts=settings,
        latency_target=settings.high_inference_latency.threshold_seconds or slo.p95_latency_seconds,
        rtf_targets=(RtfTarget(cloud.name, rtf, rtf_why),),
        rtf_target_text=number(rtf),
        queue_capacity=cloud.server.max_queued_requests,
        gpu=True,
        autoscaler=cloud.name if cloud.autoscaling.enabled else None,
        slo_budgets=True,
        always_running=cloud.replica_range[0] > 0,
        exposition=VLLM_OMNI,  # the engine builders.cloud.runtime_settings runs
    )


def edge_rtf_target(config: DeploymentConfig, pool: EdgePool) -> RtfTarget:
    """tolerance x the device's measured RTF at the pool's quantization, else the stack's slo.p95Rtf."""
    tolerance = config.observability.alerts.edge.high_real_time_factor.tolerance
    expected = edge.device_of(config, pool).expected_rtf.get(pool.quantization)
    service = edge.pool_name(pool)
    if expected is None:
        return RtfTarget(service, config.slo.p95_rtf, f"slo.p95Rtf: {pool.device} has no {pool.quantization} figure")
    why = f"{number(tolerance)} x {number(expected)}, the expected RTF of {pool.device} at {pool.quantization}"
    return RtfTarget(service, expected * tolerance, why)


def edge_scope(config: DeploymentConfig) -> RuntimeScope | None:
    """Every edge pool of the environment, or None without any."""
    tier = config.edge
    if not tier.enabled or not tier.pools:
        return None
    settings = config.observability.alerts.edge
    return RuntimeScope(
        tier="edge",
        name=edge.SERVICE_ACCOUNT,  # the name every edge object shared by the pools carries
        prefix="Edge",
        namespace=config.namespace,
        services=tuple(edge.pool_name(pool) for pool in tier.pools),
        alerts=settings,
        latency_target=settings.high_inference_latency.threshold_seconds or config.slo.p95_latency_seconds,
        rtf_targets=tuple(edge_rtf_target(config, pool) for pool in tier.pools),
        rtf_target_text=f"{number(settings.high_real_time_factor.tolerance)}x its device's expected RTF",
        queue_capacity=tier.server.max_queued_requests,
        gpu=False,
        autoscaler=None,
        slo_budgets=False,
        always_running=False,  # a pool has as many pods as nodes have joined it, which may be none yet
        exposition=None,  # llamacpp's llama-tts-server serves no /metrics (contracts/engine_metrics.py)
    )


def runtime_scopes(config: DeploymentConfig) -> list[RuntimeScope]:
    """The scopes the environment runs: the cloud tier when enabled, the edge pools when there are any."""
    scopes = [cloud_scope(config)] if config.cloud.enabled else []
    return scopes + [scope for scope in (edge_scope(config),) if scope is not None]


def every_runtime(config: DeploymentConfig) -> RuntimeScope | None:
    """One scope over every runtime Service of the environment, for the recording rules.

    They aggregate by (namespace, service), so one set covers the cloud Service and each pool with a series
    apiece; two sets recording the same names would be duplicates to promtool and to anyone reading them.
    The first scope's facts decide the rest (SLO budgets: the cloud tier's, where there is one).
    """
    scopes = runtime_scopes(config)
    if not scopes:
        return None
    return replace(scopes[0], services=tuple(service for scope in scopes for service in scope.services))
