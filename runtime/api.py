"""The speech request as clients send it: OpenAI's fields, vLLM-Omni's extras, VoxCPM's parameters.

One client talks to OpenAI, vLLM-Omni or voxdeploy unchanged; what we cannot honour is refused with
a 400 that names the field, never silently ignored. Types are strict (a JSON `"stream": "yes"` or
`"seed": true` is refused, not coerced): the OpenAI SDK sends numbers and booleans as JSON ones.
Multipart text parts are all strings, so they are read by one documented rule first (`form_value`).
"""

from __future__ import annotations

import base64
import binascii
import re
import types
from typing import Annotated, Literal, Union, get_args, get_origin

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from voxdeploy.contracts.runtime import ResponseFormat
from voxdeploy.runtime.encoding import SAMPLE_RATES

_DATA_URI = re.compile(r"^data:(?P<mime>[\w/+.-]+)?(;[\w=.-]+)*;base64,(?P<data>.*)$", re.DOTALL)


class VoiceRef(BaseModel):
    """OpenAI's newer `voice: {"id": ...}` form."""

    model_config = ConfigDict(extra="forbid", strict=True)
    id: str = Field(min_length=1, max_length=128)


VoiceName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class SpeechRequest(BaseModel):
    """Body of POST /v1/audio/speech (JSON, or the same fields as multipart form parts)."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=False)

    input: str = Field(min_length=1, description="Text to speak.")
    model: str | None = Field(
        None, description="The served model (GET /v1/models) or one of its aliases; any other is a 404."
    )
    voice: VoiceName | VoiceRef = Field(
        "default", description='A voice\'s name or id (GET /v1/audio/voices), or `{"id": ...}`.'
    )
    response_format: ResponseFormat | None = Field(
        None, description="mp3, opus, aac, flac, wav or pcm (16-bit mono); unset: the server's default (mp3)."
    )
    speed: float = Field(1.0, ge=0.25, le=4.0, description="Speaking rate, 0.25 to 4.0.")
    stream: bool | None = Field(
        None,
        description="Unset: the audio is streamed as it is made, as OpenAI's is. false: sent whole once made. "
        "true: server-sent events (vLLM-Omni's way) unless stream_format says audio.",
    )
    stream_format: Literal["sse", "audio"] | None = Field(
        None, description="audio: the bytes of response_format as they are made; sse: OpenAI's speech events."
    )
    sample_rate: int | None = Field(
        None,
        description=f"Rate of the audio sent, one of {', '.join(map(str, SAMPLE_RATES))} (opus: 8000, 12000, "
        "16000, 24000 or 48000); unset: the server's (24000, as OpenAI's). Stated in X-Sample-Rate.",
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

    @field_validator("sample_rate")
    @classmethod
    def _offered_rate(cls, value: int | None) -> int | None:
        if value is not None and value not in SAMPLE_RATES:
            raise ValueError(f"{value} Hz is not offered; use one of {', '.join(map(str, SAMPLE_RATES))}")
        return value

    @property
    def voice_name(self) -> str:
        return self.voice.id if isinstance(self.voice, VoiceRef) else self.voice

    @property
    def streaming(self) -> bool:
        """OpenAI's rule: streamed unless `stream: false` (and no stream_format asks for a stream anyway)."""
        return self.stream is not False or self.stream_format is not None

    @property
    def events(self) -> bool:
        """Server-sent events: stream_format=sse, or vLLM-Omni's `stream: true` without a stream_format."""
        return self.stream_format == "sse" or (self.stream_format is None and self.stream is True)


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


_UNION_MEMBERS = frozenset({"str", "constrained-str", VoiceRef.__name__})
"""Names pydantic puts in an error's location for the member of a union (`voice`) it tried."""
_MEMBER_MISMATCH = frozenset({"string_type", "model_type"})
"""Errors saying only that a value is not of some union member's type: the member it was meant for says more."""


def first_error(err: ValidationError) -> tuple[str, str]:
    """(param, message) of the first validation problem, phrased for an API client; `param` is the field."""
    errors = err.errors(include_url=False)
    field = errors[0]["loc"][:1]
    same_field = [e for e in errors if e["loc"][:1] == field]
    error = next((e for e in same_field if e["type"] not in _MEMBER_MISMATCH), errors[0])
    path = ".".join(str(part) for part in error["loc"] if part not in _UNION_MEMBERS) or "body"
    param = str(error["loc"][0]) if error["loc"] else "body"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = f"unknown field {path!r}"
    elif error["type"] == "missing":
        message = f"{path!r} is required"
    return param, f"{path}: {message}"


def _union_members(annotation: object) -> tuple[object, ...]:
    members = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    return tuple(get_args(m)[0] if get_origin(m) is Annotated else m for m in members)


def _text_kinds(annotation: object) -> tuple[bool, bool]:
    """(takes a string, takes an object) of a field's type."""
    members = _union_members(annotation)
    text = any(m is str or get_origin(m) is Literal for m in members)
    mapping = any(get_origin(m) is dict or (isinstance(m, type) and issubclass(m, BaseModel)) for m in members)
    return text, mapping


_FORM_KINDS = {name: _text_kinds(field.annotation) for name, field in SpeechRequest.model_fields.items()}
MULTIPART_TEXT_FIELDS = frozenset(name for name, (text, _) in _FORM_KINDS.items() if text)
"""Fields whose multipart part is taken as the text it holds (so a part cannot make them null: leave it out)."""


def form_value(name: str, text: str) -> object:
    """The value of a multipart text part, by the one rule the API documents: a field that takes text gets the
    part as it is (`input=Hello`), except that a field taking an object too reads a part starting with `{` as
    JSON (`voice={"id": "narrator"}`); any other field reads the part as a JSON value (`speed=1.5`,
    `stream=true`, `seed=42`, `extra_params={...}`), so `stream=yes` is refused as it is in a JSON body.
    JSON is parsed as the JSON body is: depth-limited, no lone surrogates, no NaN. ValueError says what is wrong."""
    takes_text, takes_object = _FORM_KINDS.get(name, (True, False))  # an unknown field: the model refuses it
    if takes_text and not (takes_object and text.lstrip().startswith("{")):
        return text
    try:
        return parse_json(text.encode())
    except ValueError as err:
        kind = "a JSON object" if takes_object else "a JSON value (a number, true or false)"
        raise ValueError(f"must be {kind}: {err}") from None


def parse_json(data: bytes) -> object:
    """A JSON document, strictly: nesting beyond pydantic-core's limit (200), a lone UTF-16 surrogate (`"\\ud800"`),
    invalid UTF-8, NaN or Infinity, or an integer too long for Python to convert are ValueErrors (the standard
    library's parser raises RecursionError on deep nesting and returns lone surrogates, which fail later)."""
    return pydantic_core.from_json(data, allow_inf_nan=False)
