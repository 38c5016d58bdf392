"""What the cloud tier's autoscaler watches: CPU (the reference article's HPA) or a load signal from Prometheus.

CPU is a poor signal for GPU inference: the GPU saturates while the CPU idles, so a CPU HPA never adds the
pod that would have kept the real-time factor down. The runtime's own gauges (requests in flight, requests
queued) and its RTF histogram say how loaded a pod really is, and so does the engine's own backlog (vLLM-Omni's
requests waiting and running, forwarded on the runtime's /metrics), what vLLM deployments usually scale on;
KEDA or prometheus-adapter hand them to the HPA.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.metrics import RATE_WINDOW
from voxdeploy.infra.config.base import DnsLabel
from voxdeploy.infra.config.observability import Duration

SignalMetric = Literal["cpu", "inFlight", "queued", "engineQueue", "p95Rtf"]
SignalBackend = Literal["keda", "hpaCustom"]

IN_CLUSTER_PROMETHEUS = "http://prometheus-operated.monitoring.svc:9090"
"""kube-prometheus-stack's Prometheus Service (prometheus-operated, namespace monitoring): where in-cluster
consumers (KEDA, the Argo Rollouts analysis) query unless a stack says otherwise."""

TARGET_SHARE = 0.8
"""Default targets sit at 80% of a limit: GPU pods take minutes to start, and the rest absorbs growth meanwhile."""


class KedaOptions(StrictModel):
    """The KEDA ScaledObject's Prometheus trigger and what it does when Prometheus cannot answer."""

    prometheus_address: str = Field(
        IN_CLUSTER_PROMETHEUS,
        pattern=r"^https?://\S+$",
        description="Base URL of the Prometheus KEDA queries (kube-prometheus-stack: prometheus-operated).",
    )
    fallback_replicas: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Replicas to hold while Prometheus is unreachable or returns nothing; unset uses maxReplicas "
        "(blind, serving beats saving).",
    )
    failure_threshold: int = Field(
        3, ge=1, le=100, description="Failed metric reads in a row before KEDA falls back to fallbackReplicas."
    )


class AdapterOptions(StrictModel):
    """Where prometheus-adapter runs, so the rules ConfigMap lands where it can mount it."""

    namespace: DnsLabel = Field("monitoring", description="Namespace of the prometheus-adapter release.")
    config_map: DnsLabel | None = Field(
        None,
        description="Name of the rules ConfigMap (key config.yaml) the chart's `rules.existing` points at; unset: "
        "voxdeploy-adapter.<namespace>.<cloud.name>, so stacks sharing the adapter's namespace never own one object. "
        "A name set here must be unique among those stacks.",
    )


class ScalingSignal(StrictModel):
    """The metric the autoscaler keeps at its target, and the controller that reads it from Prometheus."""

    metric: SignalMetric = Field(
        "cpu",
        description="cpu: HPA on CPU utilization (the reference article's); inFlight: requests being synthesized "
        "per pod; queued: requests per pod waiting or being synthesized; engineQueue: requests per pod waiting or "
        "running inside the engine (vLLM-Omni's own series, the cloud tier's engine); p95Rtf: the service's p95 "
        "real-time factor.",
    )
    backend: SignalBackend = Field(
        "keda",
        description="keda: a KEDA ScaledObject (it creates the HPA); hpaCustom: an HPA on custom or external "
        "metrics served by prometheus-adapter, with its rules rendered. Not used for cpu.",
    )
    target: float | None = Field(
        None,
        gt=0,
        description="Value the autoscaler holds: per pod for inFlight, queued and engineQueue, the service's value "
        "for p95Rtf. Unset: 80% of cloud.server.maxConcurrentRequests (inFlight, queued, engineQueue: the most the "
        "runtime lets into the engine at once, which cloud.engine.maxNumSeqs must hold) or of slo.p95Rtf (p95Rtf); "
        "`voxdeploy plan` suggests one from measured capacity.",
    )
    rtf_window: Duration = Field(
        "2m",
        description=f"Rate window of the p95Rtf query: shorter than the alerts' {RATE_WINDOW}, "
        "since scaling must act first.",
    )
    keda: KedaOptions = Field(KedaOptions(), description="KEDA ScaledObject options (backend keda).")
    adapter: AdapterOptions = Field(AdapterOptions(), description="prometheus-adapter options (backend hpaCustom).")

    def target_value(self, max_concurrent_requests: int, slo_p95_rtf: float) -> float:
        """The target in force: the configured one, else a share of the limit the signal runs into.

        engineQueue runs into the runtime's slots, not the engine's maxNumSeqs: the engine only ever holds what the
        runtime sent it, so a share of a larger maxNumSeqs could sit above anything a pod reads and never scale out.
        """
        if self.target is not None:
            return self.target
        if self.metric == "cpu":
            raise ValueError("the cpu signal's target is cloud.autoscaling.cpuTargetPercent")
        limit = slo_p95_rtf if self.metric == "p95Rtf" else max_concurrent_requests
        return TARGET_SHARE * limit
