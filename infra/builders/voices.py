"""The runtime pods' voices: the settings document's `voices` and `speech` parts, the voices volume, the store's
password and the admin keys. One place, for the cloud and the edge runtimes alike."""

from __future__ import annotations

from voxdeploy.contracts.runtime import SpeechLimits
from voxdeploy.contracts.voices import VoiceSettings
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.voices import VOICES_DIR

VOLUME = "voices"


def speech_limits(config: DeploymentConfig) -> SpeechLimits:
    api = config.speech_api
    return SpeechLimits(default_format=api.default_format, sample_rate=api.sample_rate, model_aliases=api.model_aliases)


def voice_settings(config: DeploymentConfig, *, store: bool, files: bool) -> VoiceSettings:
    """The voices a runtime serves; `store` and `files`: whether it reaches the database and the voices volume (a
    cloud pod does both; an edge pod, on a site's node, neither: it serves design voices, and the router sends
    every other voice to the cloud). Aliases of a voice left out are left out too: a 400 naming the voices beats
    another voice than the one asked for."""
    section = config.voices
    has_files = files and section.volume_claim is not None
    kept = [voice for voice in section.voices if voice.kind == "design" or has_files]
    names = {voice.name for voice in kept} | {"default"}
    return VoiceSettings(
        voices=kept,
        aliases={alias: target for alias, target in section.aliases.items() if target in names},
        directory=VOICES_DIR if has_files else None,
        store=section.store.url if store and section.store is not None else None,
    )


def volumes(config: DeploymentConfig) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(volumes, mounts) of the voices' files, read-only."""
    claim = config.voices.volume_claim
    if claim is None:
        return [], []
    volume: dict[str, object] = {"name": VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
    return [volume], [{"name": VOLUME, "mountPath": VOICES_DIR, "readOnly": True}]


def store_env(config: DeploymentConfig) -> list[dict[str, object]]:
    """PGPASSWORD from its Secret: libpq (psycopg) reads it, so the URL in the ConfigMap holds none."""
    store = config.voices.store
    if store is None:
        return []
    ref = {"name": store.password_secret.name, "key": store.password_secret.key}
    return [{"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": ref}}]
