"""The speech request as clients send it: OpenAI's fields, vLLM-Omni's extras, VoxCPM's parameters.

One client talks to OpenAI, vLLM-Omni or voxdeploy unchanged; what we cannot honour is refused with
a 400 that names the field, never silently ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from voxdeploy.contracts.model import VOXCPM2_SAMPLE_RATE
from voxdeploy.runtime.audio import RESPONSE_FORMATS

KNOWN_FORMATS = ("wav", "pcm", "flac", "mp3", "opus", "aac")
_DATA_URI = re.compile(r"^data:(?P<mime>[\w/+.-]+)?(;[\w=.-]+)*;base64,(?P<data>.*)$", re.DOTALL)


class VoiceRef(BaseModel):
    """OpenAI's newer `voice: {"id": ...}` form."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=128)


class SpeechRequest(BaseModel):
    """Body of POST /v1/audio/speech (JSON, or the same fields as multipart form parts)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    input: str = Field(min_length=1, description="Text to speak.")
    model: str | None = Field(None, description="Model name; any value is accepted by a single-model runtime.")
    voice: str | VoiceRef = Field("default", description="Voice name.")
    response_format: str = Field("wav", description=f"One of {', '.join(RESPONSE_FORMATS)}.")
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate, 0.25 to 4.0.")
    stream: bool = Field(False, description="Send audio as it is generated.")
    stream_format: Literal["sse", "audio"] | None = Field(None, description="sse events or raw audio bytes.")
    sample_rate: int | None = Field(
        None, gt=0, description=f"Must equal the engine's rate (VoxCPM2: {VOXCPM2_SAMPLE_RATE}) if set."
    )
    instructions: str | None = Field(None, max_length=2000, description="Voice design or style instructions.")
    language: str | None = Field(None, max_length=32, description="Language hint.")
    task_type: str | None = Field(None, max_length=64, description="vLLM-Omni task type (passed through).")
    ref_audio: str | None = Field(None, description="Reference audio to clone: base64 or a data: URI.")
    ref_text: str | None = Field(None, max_length=4000, description="Transcript of the reference audio.")
    max_new_tokens: int | None = Field(None, ge=1, le=4096, description="Upper bound on generated tokens.")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Sampling seed.")
    extra_params: dict[str, object] | None = Field(None, description="Engine-specific extras (vLLM-Omni).")
    cfg_value: float | None = Field(None, gt=0, le=10, description="VoxCPM classifier-free guidance strength.")
    inference_timesteps: int | None = Field(None, ge=1, le=100, description="VoxCPM diffusion steps.")
    normalize: bool | None = Field(None, description="VoxCPM text normalisation.")
    denoise: bool | None = Field(None, description="VoxCPM reference-audio denoising.")

    @field_validator("input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("input is blank; send the text to speak")
        return value

    @field_validator("response_format")
    @classmethod
    def _supported_format(cls, value: str) -> str:
        if value not in RESPONSE_FORMATS:
            known = "is not supported by this runtime" if value in KNOWN_FORMATS else "is not an audio format"
            raise ValueError(f"{value!r} {known}; use one of {', '.join(RESPONSE_FORMATS)}")
        return value

    @property
    def voice_name(self) -> str:
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice

    @property
    def streaming(self) -> bool:
        """vLLM-Omni's rule: stream=true, or any explicit stream_format, streams."""
        return self.stream or self.stream_format is not None


def decode_base64_audio(text: str) -> bytes:
    """Bytes of a base64 string or a data: URI; URLs are refused (the runtime fetches nothing)."""
    if text.startswith(("http://", "https://", "file://")):
        raise ValueError("URLs are not fetched; send the audio itself as base64, a data: URI, or a multipart file")
    match = _DATA_URI.match(text)
    payload = match["data"] if match else text
    try:
        return base64.b64decode(payload.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def first_error(err: ValidationError) -> tuple[str, str]:
    """(param, message) of the first validation problem, phrased for an API client."""
    error = err.errors(include_url=False)[0]
    param = ".".join(str(part) for part in error["loc"]) or "body"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown field {param!r}"
    elif error["type"] == "missing":
        message = f"{param!r} is required"
    return param, f"{param}: {message}"
