"""The stack's `voices:` and `speechApi:` sections: what the cloud (and edge) runtimes serve to OpenAI clients.

Voices written here render into the pods' settings ConfigMap; their files (references, LoRA adapters) come from
a volume the pods mount read-only. Voices made through the API need a store every replica reads: PostgreSQL,
reached through an egress rule of its own, its password from a Secret (PGPASSWORD), never in rendered YAML.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.runtime import OPENAI_FORMAT, OPENAI_SAMPLE_RATE, OutputRate, ResponseFormat
from voxdeploy.contracts.voices import DEFAULT_ALIASES, DEFAULT_VOICE, VoiceSpec
from voxdeploy.infra.config.base import DnsLabel
from voxdeploy.infra.config.cloud import SecretKeyRef
from voxdeploy.infra.config.network import Peer

VOICES_DIR = "/voices"
"""Where the voices volume is mounted in pods; voices[].reference and .lora are relative to it."""


class PostgresStore(StrictModel):
    """A PostgreSQL database the cloud pods keep voices made through the API in."""

    host: str = Field(..., min_length=1, description="Host name (a Service's DNS name, or an address).")
    port: int = Field(5432, ge=1, le=65535, description="Port.")
    database: str = Field(..., min_length=1, description="Database name.")
    user: str = Field(..., min_length=1, description="User name.")
    password_secret: SecretKeyRef = Field(
        ..., description="Secret key holding the password; the pods get it as PGPASSWORD."
    )
    peer: Peer = Field(
        ...,
        description="The database as a NetworkPolicy peer (its pods, or its addresses, and port): the pods' egress "
        "is denied elsewhere.",
    )

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


class VoicesConfig(StrictModel):
    """Named voices, OpenAI's names for them, and where voices made through /v1/audio/voices are kept."""

    voices: list[VoiceSpec] = Field([], description="Voices every runtime serves (read-only through the API).")
    aliases: dict[str, str] = Field(
        DEFAULT_ALIASES,
        description="Other names for voices, added to OpenAI's built-in names (which map to `default` unless set "
        "here): `alloy: narrator` gives alloy a voice and leaves nova and the rest to the model's own.",
    )
    volume_claim: DnsLabel | None = Field(
        None,
        description="PersistentVolumeClaim holding the voices' files, mounted read-only at /voices in the runtime "
        "pods (a ReadOnlyMany or ReadWriteMany claim when the pods spread over nodes).",
    )
    store: PostgresStore | None = Field(
        None,
        description="Where voices made through POST /v1/audio/voices are kept, shared by every cloud replica. "
        "Unset: the library serves the voices above only and refuses writes.",
    )
    admin_keys: list[str] = Field(
        [], description="Names of keys (auth.keysSecret's data keys) that may create and delete voices."
    )

    @field_validator("aliases")
    @classmethod
    def _over_openai_names(cls, aliases: dict[str, str]) -> dict[str, str]:
        """Written aliases add to OpenAI's names rather than replace them: a stack that names one voice must not
        make the other twelve names unknown to drop-in clients."""
        return {**DEFAULT_ALIASES, **aliases}

    @property
    def plain_voices(self) -> list[str]:
        """Names that mean the model's own voice: what the router need not send to the cloud."""
        return [DEFAULT_VOICE, *sorted(alias for alias, target in self.aliases.items() if target == DEFAULT_VOICE)]


class SpeechApiConfig(StrictModel):
    """What an OpenAI client gets when it leaves a field out."""

    default_format: ResponseFormat = Field(OPENAI_FORMAT, description="response_format when a request names none.")
    sample_rate: OutputRate = Field(
        OPENAI_SAMPLE_RATE, description="Audio rate when a request names none (OpenAI's: 24 kHz)."
    )
    model_aliases: list[str] = Field(
        [], description="Other model names served as VoxCPM2, e.g. tts-1 and gpt-4o-mini-tts for drop-in clients."
    )
