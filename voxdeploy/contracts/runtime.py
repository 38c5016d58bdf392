"""The runtime's own settings file (`voxdeploy serve --config`), written by the builders into a ConfigMap.

A contract: infra writes it, the runtime reads it, and neither imports the other.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.model import MODEL_ID, VOXCPM2_SAMPLE_RATE

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class RuntimeServer(StrictModel):
    """The voxdeploy runtime in front of the engine: the pod's only listening port."""

    port: int = Field(8000, ge=1024, le=65535, description="Port of the speech API, /health, /ready and /metrics.")
    max_concurrent_requests: int = Field(
        8,
        ge=1,
        le=100000,
        description="Requests handed to the engine at once per pod (at most maxNumSeqs); more wait in the queue.",
    )
    max_queued_requests: int = Field(
        128,
        ge=0,
        le=100000,
        description="Requests that may wait per pod; beyond it the runtime answers 429 with Retry-After.",
    )
    request_timeout_seconds: float = Field(
        300.0, gt=0, le=3600, description="A request still running after this gets 504."
    )
    log_level: LogLevel = Field("INFO", description="Log level of the runtime and the engine.")


class SimEngine(StrictModel):
    """A calibrated simulator: real audio, timing drawn from the figures below. It is not VoxCPM2."""

    kind: Literal["sim"] = Field("sim", description="Engine kind.")
    rtf: float = Field(0.13, gt=0, le=100, description="Real-time factor of one request when the batch is not full.")
    first_audio_seconds: float = Field(0.12, ge=0, le=60, description="Time to the first audio chunk.")
    batch_capacity: int = Field(
        8, ge=1, le=4096, description="Requests synthesized at full speed at once; beyond it every request slows down."
    )
    chunk_seconds: float = Field(0.16, gt=0, le=5, description="Audio per streamed chunk (VoxCPM2: 0.16 s).")
    latin_chars_per_second: float = Field(14.0, gt=0, description="Speaking rate for alphabetic text.")
    cjk_chars_per_second: float = Field(4.5, gt=0, description="Speaking rate for Chinese/Japanese characters.")
    sample_rate: int = Field(VOXCPM2_SAMPLE_RATE, ge=8000, le=192000, description="Output sample rate.")


class ProcessEngine(StrictModel):
    """An engine run as a supervised child process on loopback and proxied (vLLM-Omni, llama.cpp)."""

    kind: Literal["vllm-omni", "llamacpp"] = Field(..., description="Which HTTP dialect the child speaks.")
    command: list[str] = Field(..., min_length=1, description="The child's argv, rendered from the stack config.")
    port: int = Field(..., ge=1024, le=65535, description="Loopback port the child listens on.")
    model: str = Field(MODEL_ID, description="Model name sent upstream.")
    startup_timeout_seconds: float = Field(1800.0, gt=0, description="Longest load before the child is restarted.")
    max_restart_backoff_seconds: float = Field(60.0, gt=0, description="Cap of the exponential restart backoff.")
    hang_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="A child that was ready and then gives no 200 on its /health for this long is hung: its process "
        "group is SIGKILLed and it is restarted. 30 s is the window a liveness probe gives by default (3 failures, "
        "10 s apart), and well above a healthy engine's stalls (llama-tts-server may hold /health up to 5 s behind "
        "another client's idle keep-alive connection).",
    )


class VoxcpmEngine(StrictModel):
    """In-process PyTorch through the `voxcpm` package: the single-instance baseline."""

    kind: Literal["voxcpm"] = Field("voxcpm", description="Engine kind.")
    checkpoint: str = Field(
        ..., min_length=1, description="Local checkpoint directory (config.json, weights, tokenizer)."
    )
    device: Literal["cpu", "cuda"] = Field("cuda", description="Torch device.")
    compile: bool = Field(
        False,
        description="torch.compile the model at load (voxcpm's optimize): measured on an H100, RTF 1.19 -> 0.17, "
        "at the cost of a ~2 minute load. Off suits CPUs and tests.",
    )


EngineSettings = Annotated[SimEngine | ProcessEngine | VoxcpmEngine, Field(discriminator="kind")]


class SpeechLimits(StrictModel):
    """What one request may ask for; beyond these the runtime answers 4xx naming the field."""

    max_input_chars: int = Field(4000, ge=1, le=1_000_000, description="Longest `input` accepted.")
    split_chars: int = Field(
        300, ge=20, description="Inputs longer than this are split at sentence boundaries and synthesized in turn."
    )
    crossfade_ms: float = Field(12.0, ge=0, le=200, description="Crossfade at the joins of split inputs (no clicks).")
    max_body_bytes: int = Field(16 * 2**20, ge=1024, description="Largest request body (reference audio included).")
    max_reference_seconds: float = Field(30.0, gt=0, description="Longest reference audio for cloning.")


class RuntimeConfig(StrictModel):
    """Everything `voxdeploy serve` needs."""

    engine: EngineSettings = Field(SimEngine(), description="The engine behind the API.")
    server: RuntimeServer = Field(RuntimeServer(), description="Port, admission limits and timeouts.")
    host: str = Field("0.0.0.0", description="Address to listen on (0.0.0.0 in a pod).")
    speech: SpeechLimits = Field(SpeechLimits(), description="Per-request limits.")
