"""The one interface every engine speaks, so the server, metrics and limits are written once.

An engine turns one piece of text into a stream of float32 mono chunks at its own sample rate. The
server owns everything around that: admission, splitting long text, encoding, timing and metrics.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from voxdeploy.contracts.model import MODEL_ID


@dataclass(frozen=True)
class ReferenceAudio:
    """A voice to clone: decoded samples plus the original bytes, for engines that take a file."""

    samples: np.ndarray
    sample_rate: int
    wav_bytes: bytes
    transcript: str | None = None

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Synthesis:
    """One engine call: a sentence or a whole short input, with VoxCPM's generation parameters."""

    text: str
    voice: str = "default"
    speed: float = 1.0
    seed: int | None = None
    cfg_value: float | None = None
    inference_timesteps: int | None = None
    normalize: bool | None = None
    denoise: bool | None = None
    instructions: str | None = None
    language: str | None = None
    task_type: str | None = None
    max_new_tokens: int | None = None
    reference: ReferenceAudio | None = None
    lora: str | None = None
    """Path of the LoRA adapter of the voice (voxcpm's LoRA weights), for engines that serve them."""
    extra_params: Mapping[str, object] = field(default_factory=dict)


class EngineError(Exception):
    """Base of the errors an engine raises; the server maps each to an HTTP status."""

    status = 500
    error_type = "server_error"

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class EngineUnavailable(EngineError):
    """Not loaded yet, restarting, or crashed: come back later (503 + Retry-After)."""

    status = 503
    error_type = "engine_unavailable"

    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EngineRejected(EngineError):
    """The engine refused this request's content (400): the caller must change the request."""

    status = 400
    error_type = "invalid_request_error"


class EngineFailed(EngineError):
    """The engine broke while serving a valid request."""

    status = 500
    error_type = "engine_error"


class UpstreamFailed(EngineFailed):
    """A proxied engine process answered with a failure: the runtime is a gateway here (502)."""

    status = 502


class Engine(abc.ABC):
    """A speech engine behind the runtime."""

    name: str
    sample_rate: int
    model_id: str = MODEL_ID
    """The model this engine serves, as /v1/models lists it and clients name it."""

    max_concurrency: int | None = None
    """Requests the engine can take at once; None lets the server's limit alone decide."""

    unsupported_fields: frozenset[str] = frozenset()
    """Request fields this engine cannot honour: the server refuses a request that sets one (to
    anything but its neutral value) instead of ignoring it."""

    serves_lora: bool = False
    """Whether `Synthesis.lora` is honoured; the server refuses a LoRA voice by name on engines that cannot."""

    restarts: int = 0
    """Times the engine process was restarted after dying (exported as a counter)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Begin loading; return quickly: readiness is reported by `ready`."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Release everything; after in-flight requests have drained."""

    @property
    @abc.abstractmethod
    def ready(self) -> bool:
        """True when a request would be served now."""

    @property
    def problem(self) -> str | None:
        """Why the engine cannot become ready (e.g. a broken checkpoint), for /ready and 503 bodies."""
        return None

    @abc.abstractmethod
    def stream(self, synthesis: Synthesis) -> AsyncIterator[np.ndarray]:
        """Yield float32 mono chunks at `sample_rate` as they are made; raise an EngineError on failure."""
