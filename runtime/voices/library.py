"""What a request's `voice` names, and the library behind /v1/audio/voices.

Names resolve in one order: `default`, the settings' voices, the aliases (OpenAI's built-in names), then the store
(by id or name). The store is read on every lookup, never cached, so a voice deleted through one replica is gone on
all. Voices of the settings are read once at start: their files sit on a read-only volume and a broken one should
stop the runtime from becoming ready, not fail requests one by one.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from voxdeploy.contracts.voices import DEFAULT_VOICE, VoiceSettings, VoiceSpec
from voxdeploy.runtime import audio, encoding
from voxdeploy.runtime.engines.base import ReferenceAudio
from voxdeploy.runtime.http import ApiError
from voxdeploy.runtime.voices.store import DuplicateVoice, StoredVoice, StoreUnavailable, VoiceStore

MIN_SAMPLE_SECONDS = 0.5
"""Shorter samples carry too little of a voice to clone (and are usually a mistake)."""
_LISTED_NAMES = 20
"""Names an unknown-voice error lists at most; GET /v1/audio/voices lists them all."""


@dataclass(frozen=True)
class Consent:
    """The speaker's consent: a recording of it, or the id of one kept elsewhere (OpenAI's `cons_...`)."""

    data: bytes
    recording: bool


@dataclass(frozen=True)
class Voice:
    """A voice as one request uses it; `id` is the store's for voices made through the API, else the name."""

    name: str
    kind: str
    """default, design, clone or lora."""
    source: str
    """builtin, settings or api."""
    id: str
    created_at: int = 0
    description: str | None = None
    reference: ReferenceAudio | None = None
    lora: str | None = None

    def public(self) -> dict[str, object]:
        """The voice object /v1/audio/voices answers with (OpenAI's custom-voice fields, plus what it is)."""
        return {
            "id": self.id,
            "object": "audio.voice",
            "name": self.name,
            "created_at": self.created_at,
            "kind": self.kind,
            "source": self.source,
            "description": self.description,
            "transcript": self.reference.transcript if self.reference else None,
            "reference_seconds": round(self.reference.seconds, 3) if self.reference else None,
            "lora": self.lora,
        }


def load_reference(data: bytes, transcript: str | None, longest: float, param: str) -> ReferenceAudio:
    """A cloning reference from audio bytes, the same for `ref_audio` inline and a stored voice: that is what makes
    a stored voice sound as the same sample sent inline does."""
    try:
        samples, rate = audio.decode_audio(data)
    except audio.AudioDecodeError as err:
        raise ApiError(400, f"{param}: {err}", param) from None
    seconds = len(samples) / rate
    if not MIN_SAMPLE_SECONDS <= seconds <= longest:
        raise ApiError(
            400, f"{param} is {seconds:.2f} s long; it must be {MIN_SAMPLE_SECONDS:g} to {longest:g} s", param
        )
    return ReferenceAudio(samples, rate, encoding.encode(samples, rate, "wav"), transcript)


def adapter_path(directory: str | None, path: str, param: str) -> str:
    """An adapter's path inside the voices directory: relative, no `..`, present."""
    if directory is None:
        raise ApiError(400, f"{param}: this server has no voices directory (voices.directory) to hold adapters", param)
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ApiError(400, f"{param}: {path!r} must be a relative path inside the voices directory", param)
    full = Path(directory) / relative
    if not full.exists():
        raise ApiError(400, f"{param}: {path!r} does not exist in the voices directory", param)
    return str(full)


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """A store that cannot be reached is the server's trouble, and passes: 503 with Retry-After."""
    try:
        yield
    except StoreUnavailable as err:
        raise ApiError(503, f"the voice store is unavailable: {err}", None, "store_unavailable", 5) from None


class VoiceLibrary:
    """The voices one runtime serves."""

    def __init__(self, settings: VoiceSettings, store: VoiceStore | None, longest_reference: float) -> None:
        self.settings = settings
        self.store = store
        self.longest = min(longest_reference, settings.max_sample_seconds)
        self._own: dict[str, Voice] = {DEFAULT_VOICE: Voice(DEFAULT_VOICE, "default", "builtin", DEFAULT_VOICE)}
        for spec in settings.voices:  # their files, read once: a broken one stops the server before it serves
            self._own[spec.name] = self._from_settings(spec)

    def _from_settings(self, spec: VoiceSpec) -> Voice:
        where = f"voices[{spec.name}]"
        voice = Voice(spec.name, spec.kind, "settings", spec.name, description=spec.design)
        if spec.lora is not None:
            return dataclasses.replace(voice, lora=adapter_path(self.settings.directory, spec.lora, where + ".lora"))
        if spec.reference is None:
            return voice
        path = adapter_path(self.settings.directory, spec.reference, where + ".reference")
        reference = load_reference(Path(path).read_bytes(), spec.transcript, self.longest, where + ".reference")
        return dataclasses.replace(voice, reference=reference)

    @property
    def writable(self) -> bool:
        return self.store is not None

    async def resolve(self, key: str) -> Voice:
        """The voice a request names, or a 400 that lists the ones there are."""
        own = self._own.get(key) or self._own.get(self.settings.aliases.get(key, ""))
        if own is not None:
            return own
        stored = await self._stored(key)
        if stored is None:
            names = [voice.name for voice in await self.voices()]
            listed = ", ".join(names[:_LISTED_NAMES]) + (", ..." if len(names) > _LISTED_NAMES else "")
            aliases = ", ".join(sorted(self.settings.aliases))
            aliases = f"; OpenAI's names {aliases} too" if aliases else ""
            raise ApiError(400, f"voice {key!r} does not exist; this server has {listed}{aliases}", "voice")
        return self._from_store(stored)

    def _from_store(self, stored: StoredVoice) -> Voice:
        voice = Voice(stored.name, stored.kind, "api", stored.id, stored.created_at, stored.description)
        if stored.kind == "lora":
            return dataclasses.replace(voice, lora=stored.lora_path)
        if stored.audio is None:
            return voice
        reference = load_reference(stored.audio, stored.transcript, self.longest, "voice")
        return dataclasses.replace(voice, reference=reference)

    async def _stored(self, key: str) -> StoredVoice | None:
        if self.store is None:
            return None
        with _store_errors():
            return await self.store.get(key)

    async def voices(self) -> list[Voice]:
        """Every voice: the server's own first, then the store's in the order they were made."""
        stored: list[StoredVoice] = []
        if self.store is not None:
            with _store_errors():
                stored = await self.store.list()
        light = [Voice(s.name, s.kind, "api", s.id, s.created_at, s.description, lora=s.lora_path) for s in stored]
        return [*self._own.values(), *light]

    async def get(self, key: str) -> Voice:
        """One voice by id or name for GET /v1/audio/voices/{id}; 404 if there is none."""
        voice = self._own.get(key)
        stored = None if voice is not None else await self._stored(key)
        if voice is None and stored is None:
            raise ApiError(404, f"voice {key!r} does not exist", "voice_id", "invalid_request_error")
        return voice if voice is not None else self._from_store(stored)  # type: ignore[arg-type]

    async def create(
        self,
        name: str,
        *,
        sample: bytes | None,
        transcript: str | None,
        consent: Consent | None,
        design: str | None,
        lora: str | None,
    ) -> Voice:
        """A new voice in the store, checked whole first: nothing half-made is ever stored."""
        if self.store is None:
            raise ApiError(
                405,
                "this server's voice library is read-only (no voices.store is configured)",
                code="read_only",
                headers={"Allow": "GET, HEAD"},
            )
        if name in self._own or name in self.settings.aliases:
            raise ApiError(409, f"name {name!r} is a voice of this server's settings; choose another", "name")
        kinds = {"audio_sample": sample, "speaker_description": design, "lora": lora}
        given = [field for field, value in kinds.items() if value is not None]
        if len(given) != 1:
            got = ", ".join(given) or "none"
            raise ApiError(
                400, f"send exactly one of audio_sample, speaker_description or lora (got {got})", "audio_sample"
            )
        if transcript is not None and sample is None:
            raise ApiError(400, "ref_text is the audio_sample's transcript; send the sample with it", "ref_text")
        if sample is not None:
            load_reference(sample, transcript, self.longest, "audio_sample")
        if consent is not None and consent.recording:
            load_reference(consent.data, None, self.settings.max_sample_seconds, "consent")
        lora_path = None if lora is None else adapter_path(self.settings.directory, lora, "lora")
        kind = "clone" if sample is not None else "design" if design is not None else "lora"
        with _store_errors():
            try:
                stored = await self.store.create(
                    name,
                    kind,
                    description=design,
                    transcript=transcript,
                    audio=sample,
                    consent=None if consent is None else consent.data,
                    lora_path=lora_path,
                )
            except DuplicateVoice as err:
                raise ApiError(409, str(err), "name") from None
        return self._from_store(stored)

    async def delete(self, key: str) -> Voice:
        if key in self._own:
            raise ApiError(409, f"voice {key!r} is in this server's settings; remove it there", "voice_id")
        if self.store is None:
            raise ApiError(404, f"voice {key!r} does not exist", "voice_id")
        with _store_errors():
            deleted = await self.store.delete(key)
        if deleted is None:
            raise ApiError(404, f"voice {key!r} does not exist", "voice_id")
        return self._from_store(deleted)
