"""The voices a runtime serves: named in its settings (a stack's `voices:` section, rendered into the pods'
ConfigMap), created through `/v1/audio/voices` into a store every replica reads, and OpenAI's built-in names.

VoxCPM2 has no named speakers: a voice is a way of conditioning it. `default` is the model's own voice; every other
voice is one of three kinds, each a request to the engine: a voice-design description (VoxCPM2's parenthesised
prefix, vLLM-Omni's `instructions`), a cloning reference (audio and, for VoxCPM2's prompt mode, its transcript), or
a LoRA adapter fine-tuned on a speaker (the `voxcpm` package swaps it in per request).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from voxdeploy.contracts.base import StrictModel

DEFAULT_VOICE = "default"
"""The model's own voice, no conditioning: what a request without `voice` gets."""

OPENAI_VOICES = (
    "alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage", "shimmer", "verse",
)  # fmt: skip
"""OpenAI's built-in speech voices (its API reference, 2026-12): drop-in clients send one of these."""

DEFAULT_ALIASES = {name: DEFAULT_VOICE for name in OPENAI_VOICES}
"""OpenAI's names all mean the model's own voice until a stack maps them to voices of its own."""

VOICE_NAME_PATTERN = r"[A-Za-z0-9][-._A-Za-z0-9 ]{0,63}"
"""A voice's name: what a request's `voice` holds; letters, digits, `-._` and spaces, at most 64 characters."""

DESIGN_MAX_CHARS = 2000
"""Longest voice-design description, in the settings and through the API."""
TRANSCRIPT_MAX_CHARS = 4000
"""Longest transcript of a cloning reference: 30 s of fast speech is well under it."""

VoiceKind = Literal["design", "clone", "lora"]


class VoiceSpec(StrictModel):
    """One voice of the settings: exactly one of `design`, `reference` or `lora`."""

    name: str = Field(..., pattern=f"^{VOICE_NAME_PATTERN}$", description="What a request's `voice` names it by.")
    design: str | None = Field(
        None,
        min_length=1,
        max_length=DESIGN_MAX_CHARS,
        description="A voice-design description, e.g. `A warm, low female voice, speaking slowly`.",
    )
    reference: str | None = Field(
        None,
        min_length=1,
        description="Path of a reference recording to clone (WAV, FLAC, OGG or MP3, 0.5 to 30 s), relative to "
        "voices.directory.",
    )
    transcript: str | None = Field(
        None,
        min_length=1,
        max_length=TRANSCRIPT_MAX_CHARS,
        description="What the reference says: VoxCPM2 then clones in prompt mode, which follows the speaker closer.",
    )
    lora: str | None = Field(
        None,
        min_length=1,
        description="Path of a LoRA adapter (the `voxcpm` package's LoRA weights), relative to voices.directory; "
        "only the voxcpm engine serves these.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> VoiceSpec:
        given = [name for name in ("design", "reference", "lora") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"voice {self.name!r} must have exactly one of design, reference or lora (it has "
                f"{', '.join(given) or 'none'})"
            )
        if self.transcript is not None and self.reference is None:
            raise ValueError(f"voice {self.name!r}: transcript is the reference's; give a reference with it")
        return self

    @property
    def kind(self) -> VoiceKind:
        return "design" if self.design is not None else "clone" if self.reference is not None else "lora"


class VoiceSettings(StrictModel):
    """The voices a runtime serves and where the ones made through the API are kept."""

    voices: list[VoiceSpec] = Field([], description="Voices of the settings (read-only through the API).")
    aliases: dict[str, str] = Field(
        DEFAULT_ALIASES,
        description="Other names for voices: OpenAI's built-in names map to `default` unless set, so drop-in "
        "clients work; map them to voices of your own to give each a voice. A voice of the same name wins.",
    )
    directory: str | None = Field(
        None,
        min_length=1,
        description="Directory the voices' files are read from (reference recordings, LoRA adapters; paths in "
        "voices[] and in API requests are relative to it): a volume the pods mount read-only at /voices.",
    )
    store: str | None = Field(
        None,
        min_length=1,
        description="Where voices made through POST /v1/audio/voices are kept, read by every replica: "
        "`sqlite:///PATH` (one machine) or `postgresql://USER@HOST:PORT/DB` (the password from PGPASSWORD, a "
        "Secret in pods). Unset: the library holds the settings' voices only and refuses writes.",
    )
    max_sample_seconds: float = Field(
        30.0, gt=0, le=300, description="Longest audio sample a voice may be made from (OpenAI's limit: 30 s)."
    )

    @model_validator(mode="after")
    def _names_resolve(self) -> VoiceSettings:
        names = [voice.name for voice in self.voices]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"voices: {', '.join(twice)} named more than once")
        known = {DEFAULT_VOICE, *names}
        for alias, target in self.aliases.items():
            if target not in known:
                raise ValueError(
                    f"aliases.{alias}: {target!r} is not a voice; use {DEFAULT_VOICE!r} or one of voices[].name"
                )
        return self
