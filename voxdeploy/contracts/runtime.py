"""The runtime's own settings file (`voxdeploy serve --config`), written by the builders into a ConfigMap.

A contract: infra writes it, the runtime reads it, and neither imports the other.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, model_validator

from voxdeploy.contracts.auth import ApiKeys
from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.model import MODEL_ID, VOXCPM2_SAMPLE_RATE
from voxdeploy.contracts.voices import VoiceSettings

ResponseFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
"""OpenAI's speech formats, in its documentation's order; the runtime encodes and streams each."""
OutputRate = Literal[8000, 12000, 16000, 22050, 24000, 32000, 44100, 48000]
OPENAI_SAMPLE_RATE: OutputRate = 24000
"""The rate OpenAI's clients play raw pcm at: what an answer is sent at unless the stack or request says otherwise."""
OPENAI_FORMAT: ResponseFormat = "mp3"
"""OpenAI's default response_format."""
"""Rates the runtime can send (resampled from the engine's); opus takes 8, 12, 16, 24 and 48 kHz only."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]
"""How the runtime and the router write their logs: text for a person at a terminal, json (one object a line) for
pods, whose log collectors parse it."""


class RuntimeServer(StrictModel):
    """The voxdeploy runtime in front of the engine: the pod's only listening port."""

    port: int = Field(
        8000,
        ge=1024,
        le=65535,
        description="Port of the speech API, /health and /ready (and /metrics without metricsPort).",
    )
    metrics_port: int | None = Field(
        None,
        ge=1024,
        le=65535,
        description="Port that serves /metrics and nothing else, and the API port then none: a NetworkPolicy can admit "
        "Prometheus to it alone. Unset: /metrics beside the API, as `voxdeploy serve` runs on one's own machine; "
        "the rendered pods always have one (9090 unless set).",
    )
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
    max_connections: int = Field(
        1024,
        ge=1,
        le=1_000_000,
        description="Client connections held open at once. Beyond it the connection that has waited longest for a "
        "request is closed to make room (nginx does the same with idle keep-alive connections); with none idle the "
        "newcomer gets 503. Lowered at start to stay below the open-file limit (RLIMIT_NOFILE, raised towards its "
        "hard limit if needed), leaving room for the engine's and upstream connections.",
    )
    max_header_bytes: int = Field(
        32 * 1024,
        ge=1024,
        le=2**20,
        description="Largest request head (request line and header fields); beyond it 431 (a URL alone beyond it: "
        "414). 32 KiB is what nginx's default large_client_header_buffers (4 x 8k) holds.",
    )
    max_header_count: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Most header fields in a request; beyond it 431 (Apache's LimitRequestFields).",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=600,
        description="A request head must arrive whole within this: from the connection's start (a connection that "
        "never sends a request is closed) or from the first byte of a later request on it; else 408 and close.",
    )
    body_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="A request body must arrive whole within this after its head; else 408 and close. The default "
        "takes the largest body (speech.maxBodyBytes, 16 MiB) at 2.2 Mbit/s; a trickled body is cut off.",
    )
    drain_delay_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="After SIGTERM, /ready answers 503 while the server keeps accepting and serving for this long, "
        "until the endpoint removal reaches every proxy; then it stops accepting and finishes what is in flight "
        "(up to requestTimeoutSeconds). SIGINT skips it.",
    )
    log_level: LogLevel = Field("INFO", description="Log level of the runtime and the engine.")

    @model_validator(mode="after")
    def _ports_differ(self) -> RuntimeServer:
        if self.metrics_port == self.port:
            raise ValueError(f"metricsPort must differ from port ({self.port}): /metrics has a port of its own")
        return self


SIMULATOR_ENGINE: Final = "sim"
"""The simulator's engine kind, which /ready and /v1/models name: reports and plans tell its figures from a real
engine's by it."""


class SimEngine(StrictModel):
    """A calibrated simulator: real audio, timing drawn from the figures below. It is not VoxCPM2."""

    kind: Literal["sim"] = Field(SIMULATOR_ENGINE, description="Engine kind.")
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


class VoxcpmLora(StrictModel):
    """The shape of the LoRA layers the voxcpm engine builds into the base model (the `voxcpm` package's LoRAConfig,
    2.0.3): an adapter fits when it was trained with the same rank and alpha, on these parts or fewer. The defaults
    are voxcpm's own (LoRAConfig's rank and alpha; LM and DiT, the config VoxCPM builds for LoRA weights given
    without one)."""

    r: int = Field(8, ge=1, le=1024, description="Rank of the LoRA layers; adapters of another rank are refused.")
    alpha: int = Field(
        16,
        ge=1,
        le=65536,
        description="LoRA alpha (the layers scale by alpha / r); an adapter whose lora_config.json names another "
        "alpha is refused.",
    )
    enable_lm: bool = Field(True, description="LoRA layers in the language models (base and residual).")
    enable_dit: bool = Field(True, description="LoRA layers in the diffusion decoder (the DiT).")
    enable_proj: bool = Field(False, description="LoRA layers in the projections between the parts.")

    @model_validator(mode="after")
    def _some_part(self) -> VoxcpmLora:
        if not (self.enable_lm or self.enable_dit or self.enable_proj):
            raise ValueError("lora: enable at least one of enableLm, enableDit or enableProj")
        return self


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
    lora: VoxcpmLora | None = Field(
        None,
        description="LoRA voices: the base model is built with LoRA layers of this shape, so adapters trained with "
        "it can be swapped in per request; unset: LoRA voices are refused.",
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
    default_format: ResponseFormat = Field(
        OPENAI_FORMAT, description="response_format of a request that names none (OpenAI's default: mp3)."
    )
    sample_rate: OutputRate = Field(
        OPENAI_SAMPLE_RATE,
        description="Rate of the audio sent when a request names no sample_rate: OpenAI's clients play pcm at "
        "24 kHz; 48000 sends VoxCPM2's own rate unresampled. Every answer states its rate in X-Sample-Rate.",
    )
    model_aliases: list[str] = Field(
        [],
        description="Other `model` names the runtime answers to, e.g. OpenAI's `tts-1`, `tts-1-hd` and "
        "`gpt-4o-mini-tts` for drop-in clients; any other model but the served one gets OpenAI's 404.",
    )


class RuntimeConfig(StrictModel):
    """Everything `voxdeploy serve` needs."""

    engine: EngineSettings = Field(SimEngine(), description="The engine behind the API.")
    server: RuntimeServer = Field(RuntimeServer(), description="Port, admission limits and timeouts.")
    host: str = Field("0.0.0.0", description="Address to listen on (0.0.0.0 in a pod).")
    speech: SpeechLimits = Field(SpeechLimits(), description="Per-request limits.")
    voices: VoiceSettings = Field(VoiceSettings(), description="Named voices, aliases and the voice store.")
    auth: ApiKeys | None = Field(
        None,
        description="API keys /v1/* requires. Unset: the API is open to anyone who reaches the server, which says "
        "so at start; pods get keys unless their stack writes auth.required: false.",
    )
