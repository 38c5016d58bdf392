"""The cloud tier: GPU pods running vLLM-Omni behind the voxdeploy runtime, autoscaled.

Defaults follow vLLM-Omni's own VoxCPM2 deployment (bfloat16, a handful of concurrent sequences)
scaled to one GPU; the prod stack sets the reference article's high-concurrency figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.model import MODEL_ID, VLLM_OMNI_PORT
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.contracts.version import VERSION
from voxdeploy.infra.config.base import DnsLabel, Quantity
from voxdeploy.infra.config.scaling_signal import ScalingSignal

PRE_STOP_SECONDS = 5
"""How long a pod keeps serving after it turns Terminating, before SIGTERM: the time endpoint removal takes
to reach kube-proxy and ingress controllers, so no new request lands on a pod that has begun to drain."""

DRAIN_MARGIN_SECONDS = 10
"""Time left after the longest request, for the runtime to flush and exit before SIGKILL."""


def grace_period_seconds(request_timeout_seconds: float) -> int:
    """The least terminationGracePeriodSeconds that lets the longest request finish: preStop, then the drain."""
    return PRE_STOP_SECONDS + math.ceil(request_timeout_seconds) + DRAIN_MARGIN_SECONDS


@dataclass(frozen=True)
class VoxCPM2DeployFile:
    """What vLLM-Omni's own deploy/voxcpm2.yaml sets for stage 0 (vllm-project/vllm-omni, vllm_omni/deploy/
    voxcpm2.yaml at commit 20f42a89; tests hold these to a copy of that file). vLLM-Omni overrides a value of
    that file only with a flag typed on the command line, so a field left unset here keeps upstream's value
    and is not rendered, and a field set in the stack is always rendered."""

    enforce_eager: bool = True
    enable_prefix_caching: bool = False
    max_num_batched_tokens: int = 4096
    kv_cache_memory_bytes: int = 6 * 1024**3


DEPLOY_FILE = VoxCPM2DeployFile()


class VllmOmniEngine(StrictModel):
    """Arguments of `vllm serve <model> --omni`, rendered by templates/engines/vllm-omni.args.j2."""

    model: str = Field(MODEL_ID, min_length=1, description="Hugging Face model id or local path of the checkpoint.")
    served_model_name: str | None = Field(None, description="Name clients send as `model`; defaults to the model id.")
    tensor_parallel_size: int = Field(
        1,
        ge=1,
        le=16,
        description="GPUs one model replica is sharded over. VoxCPM2 on vLLM-Omni supports only 1 (one device "
        "per stage, vllm-omni issue 5003): scale out with replicas.",
    )
    max_num_seqs: int = Field(8, ge=1, le=4096, description="Concurrent sequences the engine batches.")
    max_model_len: int = Field(4096, ge=256, le=131072, description="Longest sequence (prompt + generated tokens).")
    enable_prefix_caching: bool | None = Field(
        None,
        description="Reuse KV cache across requests sharing a prefix; unset keeps vLLM-Omni's VoxCPM2 deploy file "
        f"({DEPLOY_FILE.enable_prefix_caching}, which its KV-cache size assumes).",
    )
    chunked_prefill_size: int | None = Field(
        None,
        ge=16,
        description="Tokens per prefill chunk (enables chunked prefill, --max-num-batched-tokens); unset keeps the "
        f"deploy file's batched-token budget ({DEPLOY_FILE.max_num_batched_tokens}).",
    )
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="Fraction of each GPU's memory the engine may take, in (0, 1]."
    )
    cuda_graphs: bool | None = Field(
        None,
        description="Capture CUDA graphs (--no-enforce-eager); false runs eagerly (--enforce-eager), slower but "
        "starts faster; unset keeps the deploy file's "
        f"{'eager mode' if DEPLOY_FILE.enforce_eager else 'CUDA graphs'}.",
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "bfloat16", description="Weight and activation dtype."
    )
    kv_cache_memory_gib: float | None = Field(
        None,
        gt=0,
        description="KV cache per engine in GiB; vLLM-Omni's VoxCPM2 deploy file pins "
        f"{DEPLOY_FILE.kv_cache_memory_bytes / 1024**3:g} GiB, sized for about 8 sequences: raise it with "
        "maxNumSeqs (rendered as --stage-overrides for stage 0).",
    )
    deploy_config: str | None = Field(
        None, description="vLLM-Omni --deploy-config file; unset uses the model's bundled deploy/voxcpm2.yaml."
    )
    port: int = Field(
        VLLM_OMNI_PORT,
        ge=1024,
        le=65535,
        description="Loopback port the engine listens on inside the pod (the runtime proxies to it).",
    )
    extra_args: list[str] = Field([], description="Further `vllm serve` flags, appended verbatim.")

    @property
    def captures_cuda_graphs(self) -> bool:
        """Whether the engine runs with CUDA graphs: the stack's choice, else the deploy file's."""
        return not DEPLOY_FILE.enforce_eager if self.cuda_graphs is None else self.cuda_graphs


class Image(StrictModel):
    """Container image; a digest pins it immutably and wins over the tag."""

    repository: str = Field(
        "ghcr.io/voxdeploy/runtime-cloud", min_length=1, description="Image repository without tag."
    )
    tag: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="Image tag.")
    digest: str | None = Field(
        None, pattern=r"^sha256:[0-9a-f]{64}$", description="Image digest (sha256:...), preferred in production."
    )
    pull_policy: Literal["IfNotPresent", "Always", "Never"] = Field(
        "IfNotPresent", description="Kubernetes imagePullPolicy."
    )

    @property
    def reference(self) -> str:
        """What goes into the pod spec: digest if pinned, else tag."""
        if self.digest is not None:
            return f"{self.repository}@{self.digest}"
        return f"{self.repository}:{self.tag}"


class ComputeResources(StrictModel):
    """CPU and memory of one side (requests or limits) of the serving container."""

    cpu: Quantity = Field(..., description="CPU cores, e.g. 4 or 3500m.")
    memory: Quantity = Field(..., description="Memory, e.g. 16Gi.")


class Resources(StrictModel):
    """Requests and limits; GPUs are set by gpusPerPod, requests equal to limits as Kubernetes requires."""

    requests: ComputeResources = Field(
        ComputeResources(cpu="2", memory="12Gi"), description="What the scheduler reserves."
    )
    limits: ComputeResources = Field(
        ComputeResources(cpu="4", memory="24Gi"), description="The most the container may use."
    )


class Toleration(StrictModel):
    """A Kubernetes toleration, so GPU pods land on tainted GPU nodes."""

    key: str = Field(..., min_length=1, description="Taint key, e.g. nvidia.com/gpu.")
    operator: Literal["Exists", "Equal"] = Field("Exists", description="Exists ignores value.")
    value: str | None = Field(None, description="Taint value when operator is Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        "NoSchedule", description="Taint effect tolerated; unset tolerates every effect."
    )


class TopologySpread(StrictModel):
    """Spread replicas so one node or zone failure does not take the service down."""

    enabled: bool = Field(True, description="Add a topologySpreadConstraint over the pods of this tier.")
    topology_key: str = Field(
        "kubernetes.io/hostname", description="Node label to spread over (hostname, or topology.kubernetes.io/zone)."
    )
    max_skew: int = Field(1, ge=1, description="Largest allowed difference in pod count between domains.")
    when_unsatisfiable: Literal["ScheduleAnyway", "DoNotSchedule"] = Field(
        "ScheduleAnyway", description="ScheduleAnyway prefers spreading; DoNotSchedule enforces it."
    )


class SecretKeyRef(StrictModel):
    """A key of an existing Kubernetes Secret; secrets never appear in rendered YAML."""

    name: DnsLabel = Field(..., description="Secret name in the tier's namespace.")
    key: str = Field(..., min_length=1, description="Key inside the Secret.")


class PersistentCache(StrictModel):
    """A PersistentVolumeClaim holding downloaded weights across pod restarts."""

    size: Quantity = Field("50Gi", description="Requested volume size.")
    storage_class_name: str | None = Field(None, description="StorageClass; unset uses the cluster default.")
    access_mode: Literal["ReadWriteMany", "ReadWriteOnce", "ReadOnlyMany"] = Field(
        "ReadWriteMany", description="ReadWriteMany lets every replica share one download."
    )
    existing_claim: DnsLabel | None = Field(None, description="Use this existing claim instead of creating one.")


class ModelCache(StrictModel):
    """Where weights live: loading VoxCPM2 from the hub at every start is slow and rate-limited."""

    mode: Literal["pvc", "emptyDir", "none"] = Field(
        "emptyDir",
        description="pvc: shared volume; emptyDir: per-pod scratch; none: the engine downloads into its cache.",
    )
    mount_path: str = Field("/models", pattern=r"^/[^:]*$", description="Where the cache is mounted in the pod.")
    preload: bool = Field(
        True,
        description="Download the weights in an init container before the engine starts (shorter, visible startup).",
    )
    empty_dir_size: Quantity = Field("40Gi", description="sizeLimit of the emptyDir in emptyDir mode.")
    pvc: PersistentCache = Field(PersistentCache(), description="The claim in pvc mode.")
    hf_token_secret: SecretKeyRef | None = Field(
        None, description="Secret key holding a Hugging Face token (HF_TOKEN)."
    )


class Probes(StrictModel):
    """Probe timing; the startup probe is what lets a slow model load finish before liveness counts."""

    max_startup_seconds: int = Field(
        900, ge=30, le=7200, description="Longest model load tolerated before the pod is restarted."
    )
    period_seconds: int = Field(10, ge=1, le=300, description="Probe period of all three probes.")
    liveness_failure_threshold: int = Field(3, ge=1, description="Failed /health checks before a restart.")
    readiness_failure_threshold: int = Field(2, ge=1, description="Failed /ready checks before traffic stops.")


class Pod(StrictModel):
    """Everything about the serving pod that is not the engine's own arguments."""

    image: Image = Field(Image(tag=VERSION), description="Runtime image (cloud target of runtime/Dockerfile).")
    gpus_per_pod: int | None = Field(
        None, ge=0, le=16, description="GPUs per pod; defaults to the engine's tensorParallelSize."
    )
    gpu_resource_name: str = Field("nvidia.com/gpu", min_length=1, description="Extended resource name of the GPU.")
    resources: Resources = Field(Resources(), description="CPU and memory requests and limits.")
    node_selector: dict[str, str] = Field({}, description="Node labels the pod must land on.")
    tolerations: list[Toleration] = Field(
        [Toleration(key="nvidia.com/gpu")],
        description="Taints tolerated; GPU nodes are usually tainted nvidia.com/gpu.",
    )
    topology_spread: TopologySpread = Field(TopologySpread(), description="Replica spreading.")
    priority_class_name: str | None = Field(None, description="PriorityClass of the pods (must exist in the cluster).")
    model_cache: ModelCache = Field(ModelCache(), description="Model weight cache.")
    shared_memory_size: Quantity = Field(
        "8Gi", description="Size of the memory-backed /dev/shm NCCL needs for tensor parallelism."
    )
    probes: Probes = Field(Probes(), description="Startup, liveness and readiness timing.")
    termination_grace_period_seconds: int | None = Field(
        None,
        ge=0,
        le=3600,
        description=f"Time to drain in-flight requests after the pod turns Terminating; unset: the preStop wait "
        f"({PRE_STOP_SECONDS} s) + cloud.server.requestTimeoutSeconds + {DRAIN_MARGIN_SECONDS} s, the least allowed.",
    )
    env: dict[str, str] = Field({}, description="Extra non-secret environment variables.")


class ScalingPolicy(StrictModel):
    """One direction of HPA behavior."""

    stabilization_window_seconds: int = Field(..., ge=0, le=3600, description="Look-back window before acting.")
    pods_per_period: int = Field(..., ge=1, description="Most pods added or removed per period.")
    period_seconds: int = Field(..., ge=1, le=1800, description="Length of a period.")


class Autoscaling(StrictModel):
    """Horizontal autoscaling: an HPA on CPU as the reference article does, or on a load signal from Prometheus."""

    enabled: bool = Field(True, description="Create an HPA; false runs a fixed `replicas`.")
    min_replicas: int = Field(2, ge=1, le=1000, description="Fewest replicas.")
    max_replicas: int = Field(4, ge=1, le=1000, description="Most replicas.")
    cpu_target_percent: int = Field(70, ge=1, le=100, description="Average CPU utilization the HPA keeps (signal cpu).")
    signal: ScalingSignal = Field(
        ScalingSignal(),
        description="What the autoscaler watches: cpu (the default) or in-flight, queued requests or p95 RTF from "
        "Prometheus, through KEDA or prometheus-adapter.",
    )
    scale_up: ScalingPolicy = Field(
        ScalingPolicy(stabilization_window_seconds=60, pods_per_period=2, period_seconds=60),
        description="How fast to add pods (GPU pods are slow to start: add a few at once).",
    )
    scale_down: ScalingPolicy = Field(
        ScalingPolicy(stabilization_window_seconds=600, pods_per_period=1, period_seconds=120),
        description="How fast to remove pods (slowly: a reload costs minutes).",
    )


class DisruptionBudget(StrictModel):
    """PodDisruptionBudget so node drains keep serving."""

    enabled: bool = Field(True, description="Create a PodDisruptionBudget.")
    min_available: int = Field(1, ge=0, description="Pods that must stay up during voluntary disruptions.")


class NetworkPolicyConfig(StrictModel):
    """Ingress allow-list: the API port only, from this namespace and the named ones."""

    enabled: bool = Field(True, description="Create a NetworkPolicy.")
    ingress_namespaces: list[DnsLabel] = Field(
        ["monitoring"], description="Namespaces (besides this one) allowed to reach the API and /metrics."
    )


class ServiceAccountConfig(StrictModel):
    """The pods' identity; no API token is mounted since the runtime never calls Kubernetes."""

    annotations: dict[str, str] = Field({}, description="Annotations, e.g. for workload identity.")


class ServiceConfig(StrictModel):
    """The Service in front of the pods."""

    type: Literal["ClusterIP", "LoadBalancer", "NodePort"] = Field("ClusterIP", description="Service type.")
    port: int = Field(8000, ge=1, le=65535, description="Service port.")


class CloudTier(StrictModel):
    """The GPU tier."""

    enabled: bool = Field(True, description="Deploy the cloud tier.")
    name: DnsLabel = Field("voxcpm", description="Base name of the tier's objects.")
    engine: VllmOmniEngine = Field(VllmOmniEngine(), description="vLLM-Omni engine arguments.")
    server: RuntimeServer = Field(RuntimeServer(), description="Runtime server settings.")
    pod: Pod = Field(Pod(), description="Pod settings.")
    replicas: int = Field(1, ge=0, le=1000, description="Replicas when autoscaling is disabled.")
    autoscaling: Autoscaling = Field(Autoscaling(), description="Horizontal autoscaling.")
    disruption_budget: DisruptionBudget = Field(DisruptionBudget(), description="PodDisruptionBudget.")
    network_policy: NetworkPolicyConfig = Field(NetworkPolicyConfig(), description="NetworkPolicy.")
    service_account: ServiceAccountConfig = Field(ServiceAccountConfig(), description="ServiceAccount.")
    service: ServiceConfig = Field(ServiceConfig(), description="Service.")

    @property
    def grace_period_seconds(self) -> int:
        """terminationGracePeriodSeconds of the cloud pods: the stack's, else the least that drains a request."""
        explicit = self.pod.termination_grace_period_seconds
        return grace_period_seconds(self.server.request_timeout_seconds) if explicit is None else explicit

    @property
    def gpus_per_pod(self) -> int:
        """GPUs per pod: explicit, else one per tensor-parallel shard."""
        if self.pod.gpus_per_pod is not None:
            return self.pod.gpus_per_pod
        return self.engine.tensor_parallel_size

    @property
    def replica_range(self) -> tuple[int, int]:
        """(fewest, most) replicas, whether autoscaled or fixed."""
        if self.autoscaling.enabled:
            return self.autoscaling.min_replicas, self.autoscaling.max_replicas
        return self.replicas, self.replicas
