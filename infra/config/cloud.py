"""The cloud tier: GPU pods running vLLM-Omni behind the voxdeploy runtime, autoscaled.

Defaults follow vLLM-Omni's own VoxCPM2 deployment (bfloat16, a handful of concurrent sequences)
scaled to one GPU; the prod stack sets the reference article's high-concurrency figures.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.model import MODEL_ID, VLLM_OMNI_PORT
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.contracts.version import VERSION
from voxdeploy.infra.config.base import DnsLabel, DnsSubdomain, Quantity
from voxdeploy.infra.config.canary import Canary
from voxdeploy.infra.config.network import EgressPolicy
from voxdeploy.infra.config.scaling_signal import ScalingSignal

PRE_STOP_SECONDS = 5
"""How long a pod keeps serving after it turns Terminating, before SIGTERM: the time endpoint removal takes
to reach kube-proxy and ingress controllers, so no new request lands on a pod that has begun to drain."""

DRAIN_MARGIN_SECONDS = 10
"""Time left after the longest request, for the runtime to flush and exit before SIGKILL."""


def grace_period_seconds(server: RuntimeServer) -> int:
    """The least terminationGracePeriodSeconds that lets the longest request finish: preStop, the runtime's own
    drain delay (it still accepts while endpoints go), the longest request, then the flush."""
    return (
        PRE_STOP_SECONDS
        + math.ceil(server.drain_delay_seconds)
        + math.ceil(server.request_timeout_seconds)
        + DRAIN_MARGIN_SECONDS
    )


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

SURGE_PERCENT = re.compile(r"([1-9][0-9]?|100)%")

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
"""The node label NVIDIA's GPU Feature Discovery (GPU Operator) sets to the card's model, e.g. NVIDIA-H100-80GB-HBM3."""

PINNED_REVISION = re.compile(r"[0-9a-f]{40}")
"""A Hugging Face commit id: the only revision that cannot change under running replicas."""

NODE_PROVISION_SECONDS = 600
"""Time before a new pod's first container starts: a GPU node added by the cluster autoscaler (minutes) and a
CUDA runtime image of several GB pulled onto it. Counted in the rollout's progress deadline."""


class VllmOmniEngine(StrictModel):
    """Arguments of `vllm serve <model> --omni`, rendered by templates/engines/vllm-omni.args.j2."""

    model: str = Field(MODEL_ID, min_length=1, description="Hugging Face model id or local path of the checkpoint.")
    revision: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$",
        description="Hugging Face revision of `model` the pods download (a 40-hex commit pins it; prod requires "
        "one, since a branch moves under running replicas); unset: main.",
    )
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
    stage_devices: str | None = Field(
        None,
        pattern=r"^[0-9]+(,[0-9]+)*$",
        description='Devices of VoxCPM2\'s one stage (the deploy file\'s `devices`, "0"), e.g. "0,1": needed for '
        "tensorParallelSize > 1, one per shard (rendered with the stage's tensor_parallel_size as "
        "--stage-overrides). Unverified on hardware by this project: upstream runs VoxCPM2 on one device.",
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

    @property
    def stage_overrides(self) -> dict[str, dict[str, object]] | None:
        """vLLM-Omni's --stage-overrides for stage 0: the stack's KV cache and, when sharded, its devices with the
        matching tensor parallelism (a top-level --tensor-parallel-size alone meets the deploy file's one device
        and fails); None when the deploy file's values stand."""
        stage: dict[str, object] = {}
        if self.kv_cache_memory_gib is not None:
            stage["kv_cache_memory_bytes"] = int(self.kv_cache_memory_gib * 1024**3)
        if self.stage_devices is not None:
            stage |= {"devices": self.stage_devices, "tensor_parallel_size": self.tensor_parallel_size}
        return {"0": stage} if stage else None

    @property
    def from_hub(self) -> bool:
        """Whether `model` is a hub id the pods download, rather than a path already inside the pod."""
        return not self.model.startswith("/")

    @property
    def pins_revision(self) -> bool:
        """Whether every replica loads the same weights: a commit, not a branch or tag that can move."""
        return self.revision is not None and PINNED_REVISION.fullmatch(self.revision) is not None


_REGISTRY_PART = r"[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_PART = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
IMAGE_REPOSITORY = re.compile(rf"({_REGISTRY_PART}(\.{_REGISTRY_PART})*(:[0-9]+)?/)?{_PATH_PART}(/{_PATH_PART})*")
"""An image name as the container runtime parses it (the distribution reference grammar), without tag or digest."""


class Image(StrictModel):
    """Container image; a digest pins it immutably and wins over the tag."""

    repository: str = Field(
        "ghcr.io/voxdeploy/runtime-cloud",
        max_length=255,
        json_schema_extra={"pattern": f"^{IMAGE_REPOSITORY.pattern}$"},
        description="Image repository without tag or digest: [registry[:port]/]path, lowercase path parts.",
    )
    tag: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="Image tag.")
    digest: str | None = Field(
        None, pattern=r"^sha256:[0-9a-f]{64}$", description="Image digest (sha256:...), preferred in production."
    )
    pull_policy: Literal["IfNotPresent", "Always", "Never"] = Field(
        "IfNotPresent", description="Kubernetes imagePullPolicy."
    )

    @field_validator("repository")
    @classmethod
    def _is_an_image_name(cls, value: str) -> str:
        """A name the runtime cannot parse leaves the pod in InvalidImageName; say so before anything is applied."""
        if IMAGE_REPOSITORY.fullmatch(value) is None:
            hint = (
                "; put the tag in tag and a digest in digest" if ":" in value.rpartition("/")[2] or "@" in value else ""
            )
            raise ValueError(
                "not an image repository: [registry[:port]/]path, path parts of lowercase letters and digits "
                f"joined by '.', '_', '__' or '-', e.g. ghcr.io/voxdeploy/runtime-cloud{hint}"
            )
        return value

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
    storage_class_name: str | None = Field(
        None,
        description="StorageClass of the claim. Required for ReadWriteMany/ReadOnlyMany: the default classes of "
        "EKS, GKE and AKS are block storage (ReadWriteOnce only), so a shared claim without a class stays Pending.",
    )
    access_mode: Literal["ReadWriteMany", "ReadWriteOnce", "ReadOnlyMany"] = Field(
        "ReadWriteMany", description="ReadWriteMany lets every replica share one download."
    )
    existing_claim: DnsLabel | None = Field(None, description="Use this existing claim instead of creating one.")


CacheMode = Literal["pvc", "emptyDir", "image"]
SHARED_ACCESS_MODES = ("ReadWriteMany", "ReadOnlyMany")


class ModelCache(StrictModel):
    """Where weights live. A hub model is downloaded by an init container into the cache at a pinned revision and
    served from that directory with the Hugging Face hub offline, so a serving pod never reaches the hub."""

    mode: CacheMode = Field(
        "emptyDir",
        description="pvc: one volume the replicas share (ReadWriteMany needs a storageClassName); emptyDir: a "
        "per-pod cache, downloaded at every pod start; image: the weights are baked into the image at "
        "cloud.engine.model (an absolute path), nothing is downloaded.",
    )
    mount_path: str = Field("/models", pattern=r"^/[^:]*$", description="Where the cache is mounted in the pod.")
    empty_dir_size: Quantity = Field("40Gi", description="sizeLimit of the emptyDir in emptyDir mode.")
    pvc: PersistentCache = Field(PersistentCache(), description="The claim in pvc mode.")
    hf_token_secret: SecretKeyRef | None = Field(
        None, description="Secret key holding a Hugging Face token (HF_TOKEN), read by the download only."
    )
    max_download_seconds: int = Field(
        1800,
        ge=60,
        le=14400,
        description="Longest weight download tolerated; with probes.maxStartupSeconds it sizes the rollout's "
        "progress deadline and Pulumi's wait.",
    )


class Probes(StrictModel):
    """Probe timing; the startup probe is what lets a slow model load finish before liveness counts."""

    max_startup_seconds: int = Field(
        900, ge=30, le=7200, description="Longest model load tolerated before the pod is restarted."
    )
    period_seconds: int = Field(10, ge=1, le=300, description="Probe period of all three probes.")
    liveness_failure_threshold: int = Field(3, ge=1, description="Failed /health checks before a restart.")
    readiness_failure_threshold: int = Field(2, ge=1, description="Failed /ready checks before traffic stops.")

    @property
    def liveness_window_seconds(self) -> int:
        """How long the kubelet lets /health fail before a restart; the runtime restarts a hung engine after as
        long, so a hung engine costs what a hung pod would, without losing the pod."""
        return self.period_seconds * self.liveness_failure_threshold


class Pod(StrictModel):
    """Everything about the serving pod that is not the engine's own arguments."""

    image: Image = Field(Image(tag=VERSION), description="Runtime image (cloud target of runtime/Dockerfile).")
    gpus_per_pod: int | None = Field(
        None, ge=0, le=16, description="GPUs per pod; defaults to the engine's tensorParallelSize."
    )
    gpu_resource_name: str = Field("nvidia.com/gpu", min_length=1, description="Extended resource name of the GPU.")
    gpu_products: list[str] = Field(
        [],
        description="GPU models the pods may land on, as the node label gpuProductLabel names them (NVIDIA GPU "
        "Feature Discovery: e.g. NVIDIA-H100-80GB-HBM3); unset: any card, whatever its memory.",
    )
    gpu_product_label: str = Field(
        GPU_PRODUCT_LABEL,
        min_length=1,
        description="Node label holding the GPU model (GKE: cloud.google.com/gke-accelerator).",
    )
    resources: Resources = Field(Resources(), description="CPU and memory requests and limits.")
    node_selector: dict[str, str] = Field({}, description="Node labels the pod must land on.")
    tolerations: list[Toleration] = Field(
        [Toleration(key="nvidia.com/gpu")],
        description="Taints tolerated; GPU nodes are usually tainted nvidia.com/gpu.",
    )
    topology_spread: TopologySpread = Field(TopologySpread(), description="Replica spreading.")
    priority_class_name: DnsSubdomain | None = Field(
        None, description="PriorityClass of the pods (must exist in the cluster; system-* are Kubernetes' own)."
    )
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
        f"({PRE_STOP_SECONDS} s) + cloud.server.drainDelaySeconds + requestTimeoutSeconds + {DRAIN_MARGIN_SECONDS} s, "
        "the least allowed.",
    )
    env: dict[str, str] = Field({}, description="Extra non-secret environment variables.")

    @field_validator("priority_class_name")
    @classmethod
    def _not_a_system_priority(cls, value: str | None) -> str | None:
        """Kubernetes keeps system-* for what a node or cluster cannot run without (DNS, kube-proxy, CNI)."""
        if value is not None and value.startswith("system-"):
            raise ValueError(
                "system-* PriorityClasses (system-node-critical, system-cluster-critical) are Kubernetes' own: a "
                "GPU pod there could preempt DNS or the network plugin; create a PriorityClass of your own"
            )
        return value


class ScalingPolicy(StrictModel):
    """One direction of HPA behavior."""

    stabilization_window_seconds: int = Field(..., ge=0, le=3600, description="Look-back window before acting.")
    pods_per_period: int = Field(..., ge=1, description="Most pods added or removed per period.")
    period_seconds: int = Field(..., ge=1, le=1800, description="Length of a period.")


class Autoscaling(StrictModel):
    """Horizontal autoscaling: an HPA on CPU as the reference article does, or on a load signal from Prometheus."""

    enabled: bool = Field(True, description="Create an HPA; false runs a fixed `replicas`.")
    min_replicas: int = Field(
        2,
        ge=0,
        le=1000,
        description="Fewest replicas. 0 scales the tier to zero between batches (KEDA only: an HPA cannot): the batch "
        "Job's presence wakes it, nothing else does, and a cold start takes minutes.",
    )
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
    """PodDisruptionBudget so node drains keep serving. maxUnavailable scales with the fleet: at 10 replicas
    `minAvailable: 1` would let a drain take nine 20-minute-start GPU pods at once; `maxUnavailable: 1` takes one."""

    enabled: bool = Field(True, description="Create a PodDisruptionBudget.")
    max_unavailable: int | None = Field(
        None, ge=0, description="Most pods a voluntary disruption may take at once; 1 when neither bound is set."
    )
    min_available: int | None = Field(
        None, ge=0, description="Pods that must stay up during voluntary disruptions (instead of maxUnavailable)."
    )

    @model_validator(mode="after")
    def _one_bound(self) -> DisruptionBudget:
        if self.max_unavailable is not None and self.min_available is not None:
            raise ValueError("set either maxUnavailable or minAvailable, not both (Kubernetes accepts one per budget)")
        return self

    @property
    def spec(self) -> dict[str, int]:
        """The budget's bound as its spec field: maxUnavailable 1 unless the stack says otherwise."""
        if self.min_available is not None:
            return {"minAvailable": self.min_available}
        return {"maxUnavailable": 1 if self.max_unavailable is None else self.max_unavailable}


class NetworkPolicyConfig(StrictModel):
    """Every tier's NetworkPolicies: ingress to the API port only, from this namespace, the named ones and the
    route's proxies (`route`); to the metrics port from the monitoring namespaces only; egress only to what each
    pod talks to."""

    enabled: bool = Field(True, description="Create the cloud tier's NetworkPolicy (edge and router always get one).")
    ingress_namespaces: list[DnsLabel] = Field(
        ["monitoring"], description="Namespaces (besides this one) allowed to reach the API port."
    )
    metrics_namespaces: list[DnsLabel] = Field(
        ["monitoring"],
        description="Namespaces (Prometheus') allowed to reach the pods' metrics port, the only port serving "
        "/metrics; no other pod may, not even this namespace's.",
    )
    egress: EgressPolicy = Field(EgressPolicy(), description="Default-deny egress and the peers each pod may reach.")


class Rollout(StrictModel):
    """How a new version replaces the old: GPU pods take up to probes.maxStartupSeconds (plus the download) to
    become ready, so one-at-a-time replacement of 10 replicas would take hours."""

    strategy: Literal["rollingUpdate", "canary"] = Field(
        "rollingUpdate",
        description="rollingUpdate: a Deployment; canary: an Argo Rollouts Rollout with canary steps and an "
        "analysis of the canary's latency, RTF and errors against slo: (needs the Argo Rollouts controller).",
    )
    canary: Canary = Field(Canary(), description="Steps and analysis of strategy canary.")

    max_surge: int | str = Field(
        "25%",
        union_mode="left_to_right",
        description="Extra pods during a rollout, a count or a percentage of the replicas (Kubernetes' default "
        "25%); each needs a free GPU. Old pods leave only as new ones are ready (maxUnavailable 0).",
    )

    @field_validator("max_surge")
    @classmethod
    def _makes_room(cls, value: int | str) -> int | str:
        valid = value >= 1 if isinstance(value, int) else SURGE_PERCENT.fullmatch(value) is not None
        if not valid:
            raise ValueError(
                "must be a count >= 1 or a percentage from 1% to 100%: with maxUnavailable 0 a rollout needs room "
                "for at least one new pod"
            )
        return value


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
    rollout: Rollout = Field(Rollout(), description="Rolling update of the Deployment.")
    network_policy: NetworkPolicyConfig = Field(NetworkPolicyConfig(), description="NetworkPolicy.")
    service_account: ServiceAccountConfig = Field(ServiceAccountConfig(), description="ServiceAccount.")
    service: ServiceConfig = Field(ServiceConfig(), description="Service.")

    @property
    def canary(self) -> bool:
        """The tier is rendered as an Argo Rollouts Rollout (builders.rollout) rather than a Deployment."""
        return self.enabled and self.rollout.strategy == "canary"

    @property
    def canary_runs_load_test(self) -> bool:
        """The load test is a step of every canary, so it is not also rendered as Jobs of its own: two masters behind
        the one master Service would split the workers between them."""
        return self.canary and self.rollout.canary.analysis.load_test

    @property
    def grace_period_seconds(self) -> int:
        """terminationGracePeriodSeconds of the cloud pods: the stack's, else the least that drains a request."""
        explicit = self.pod.termination_grace_period_seconds
        return grace_period_seconds(self.server) if explicit is None else explicit

    @property
    def model_path(self) -> str:
        """What `vllm serve` loads: the download directory of the model's revision in the cache, or the stack's own
        path. A plain directory (not the hub cache) means the engine never resolves a revision or calls the hub."""
        engine = self.engine
        if not engine.from_hub:
            return engine.model
        return f"{self.pod.model_cache.mount_path}/{engine.model}/{engine.revision or 'main'}"

    @property
    def startup_budget_seconds(self) -> int:
        """Longest time from a pod's creation to Ready: a node and the image, the download, then the load."""
        download = self.pod.model_cache.max_download_seconds if self.engine.from_hub else 0
        return NODE_PROVISION_SECONDS + download + self.pod.probes.max_startup_seconds

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
