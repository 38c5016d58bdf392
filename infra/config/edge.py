"""The edge tier: node pools of heterogeneous devices running llama.cpp-omni's `llama-tts-server`.

A pool is one device model with one quantization and backend. What a device is (memory, cores,
backends, the reference article's measured RTF) is data: `devices.yaml` beside this file seeds the
catalogue, and a stack adds or overrides devices under `edge.devices`.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import Field

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.model import LLAMACPP_PORT
from voxdeploy.contracts.runtime import RuntimeServer
from voxdeploy.infra.config.base import DnsLabel, Quantity
from voxdeploy.infra.config.cloud import Image, Toleration

Quantization = Literal["Q4_0", "Q4_K_M", "Q5_K_M", "Q8_0", "F16"]
Backend = Literal["cpu", "cuda", "metal", "vulkan"]
Architecture = Literal["amd64", "arm64"]

BITS_PER_WEIGHT: dict[str, float] = {"Q4_0": 4.5, "Q4_K_M": 4.85, "Q5_K_M": 5.69, "Q8_0": 8.5, "F16": 16.0}
"""ggml's storage cost per weight, block scales included: what a quantized file weighs."""
BASE_LM_F16_GB = 3.25
ACOUSTIC_F16_GB = 1.83
"""VoxCPM2's two GGUF files at F16, as tc-mb/llama.cpp-omni's convert_voxcpm2_to_gguf.py writes them at the real
dimensions (2.29 B parameters); only the BaseLM is quantized (llama-quantize), the acoustic file stays F16."""

DEVICES_FILE = "devices.yaml"
"""The device catalogue: package data of this package, read with importlib.resources."""


class Device(StrictModel):
    """One kind of edge machine."""

    description: str = Field(..., min_length=1, description="What it is, for people.")
    memory_gib: float = Field(..., gt=0, description="Memory the model and runtime share (unified on Apple/Jetson).")
    cores: int = Field(..., ge=1, description="CPU cores available to the runtime.")
    architecture: Architecture = Field(..., description="CPU architecture images must be built for.")
    backends: list[Backend] = Field(..., min_length=1, description="ggml backends the device can run.")
    gpu_resource: str | None = Field(
        None, description="Extended resource for the accelerator (nvidia.com/gpu on Jetson)."
    )
    power_watts: float = Field(..., gt=0, description="Typical power draw under load.")
    expected_rtf: dict[Quantization, float] = Field(
        {}, description="Measured real-time factor per quantization (the reference article's table)."
    )


@cache
def device_catalogue() -> dict[str, Device]:
    """The devices every stack knows without declaring them."""
    raw = yaml.safe_load(resources.files(__package__).joinpath(DEVICES_FILE).read_text(encoding="utf-8"))
    return {name: Device.model_validate(entry) for name, entry in raw.items()}


def model_files_gib(quantization: str) -> float:
    """GiB of the two GGUF files a pool loads at a quantization."""
    gb = BASE_LM_F16_GB * BITS_PER_WEIGHT[quantization] / 16 + ACOUSTIC_F16_GB
    return gb * 1e9 / 2**30


class EdgeWeights(StrictModel):
    """Where a pool's two GGUF files come from. An edge site's uplink drops: a pod restarted during an outage must
    still find its weights on the node, so nothing here reads them from a network volume at start."""

    source: Literal["image", "download", "pvc"] = Field(
        "image",
        description="image: baked into the pool's image at /models (runtime/Dockerfile target edge-weights), "
        "nothing fetched; download: an init container fetches them once per pod into node-local scratch "
        "(they survive engine restarts, not pod replacement); pvc: an existing claim the site provides.",
    )
    repository: str | None = Field(
        None, min_length=1, description="download: Hugging Face repository (or mirror, via HF_ENDPOINT) holding them."
    )
    revision: str | None = Field(None, description="download: the repository's commit (40 hex), so every node agrees.")
    claim: DnsLabel | None = Field(None, description="pvc: the existing claim holding them (mounted read-only).")
    scratch_size: Quantity = Field("12Gi", description="download: sizeLimit of the node-local scratch volume.")


class EdgePool(StrictModel):
    """A set of nodes of one device running one configuration of the edge runtime."""

    name: DnsLabel = Field(..., description="Pool name; objects are named edge-<name>.")
    device: str = Field(..., min_length=1, description="Key of the device catalogue (built-in or edge.devices).")
    quantization: Quantization = Field("Q8_0", description="BaseLM quantization (the acoustic model stays F16).")
    backend: Backend = Field("cpu", description="ggml backend the image is built for.")
    threads: int | None = Field(None, ge=1, description="CPU threads; defaults to the device's cores.")
    gpu_layers: int = Field(0, ge=-1, description="Layers offloaded to the accelerator (-1: all).")
    context_size: int = Field(2048, ge=256, le=32768, description="Context length (tokens).")
    batch_size: int = Field(512, ge=1, le=8192, description="Prompt batch size.")
    mmap: bool = Field(True, description="Memory-map the GGUF files (shared page cache, faster start).")
    one_per_node: bool = Field(True, description="A DaemonSet (one pod per node) rather than a Deployment.")
    replicas: int = Field(1, ge=0, le=1000, description="Pods when onePerNode is false.")
    node_selector: dict[str, str] = Field({}, description="Extra node labels; voxdeploy.io/edge-pool is always set.")
    tolerations: list[Toleration] = Field([], description="Extra tolerations besides the pool's own taint.")
    image: Image = Field(
        Image(repository="ghcr.io/voxdeploy/runtime-edge", tag="0.1.0"),
        description="Edge runtime image; its tag should name the backend it was built for.",
    )
    image_architectures: list[Architecture] = Field(
        ["amd64", "arm64"], min_length=1, description="Architectures the image is published for."
    )
    weights: EdgeWeights = Field(EdgeWeights(), description="Where the GGUF files come from.")
    memory_headroom: float = Field(0.2, ge=0, le=0.9, description="Share of device memory kept free.")
    runtime_overhead_gib: float = Field(
        2.0, ge=0, description="Working memory beyond the files (buffers, KV cache, the Python runtime)."
    )
    unreachable_toleration_seconds: int = Field(
        3600, ge=0, description="How long pods stay bound to a node that lost its link (cloud pods: 300)."
    )

    def base_lm_file(self) -> str:
        return f"VoxCPM2-BaseLM-{self.quantization}.gguf"

    @staticmethod
    def acoustic_file() -> str:
        return "VoxCPM2-Acoustic-F16.gguf"

    def memory_needed_gib(self) -> float:
        return model_files_gib(self.quantization) + self.runtime_overhead_gib


class EdgeTier(StrictModel):
    """Edge node pools."""

    enabled: bool = Field(False, description="Deploy the edge tier.")
    orchestrator: Literal["openyurt", "labels"] = Field(
        "labels",
        description="openyurt: create NodePools (apps.openyurt.io); labels: nodes are labelled by the operator.",
    )
    devices: dict[str, Device] = Field({}, description="Devices added to (or overriding) the built-in catalogue.")
    pools: list[EdgePool] = Field([], description="The pools.")
    server: RuntimeServer = Field(
        RuntimeServer(max_concurrent_requests=1, max_queued_requests=8, request_timeout_seconds=120),
        description="Runtime settings of edge pods (llama-tts-server takes one request at a time).",
    )
    engine_port: int = Field(
        LLAMACPP_PORT, ge=1024, le=65535, description="Loopback port of llama-tts-server in the pod."
    )

    def catalogue(self) -> dict[str, Device]:
        return {**device_catalogue(), **self.devices}
