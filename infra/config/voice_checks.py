"""Cross-field rules of the `voices:` section, listed in checks.CHECKS: each yields what is wrong, naming the field."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from voxdeploy.contracts.voices import VoiceSettings
from voxdeploy.infra.config.access_checks import checks_keys
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.errors import ConfigIssue


def voices_resolve(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """Every alias names a voice, and no voice twice: what the runtime would refuse at start, refused now."""
    section = config.voices
    try:
        VoiceSettings(voices=section.voices, aliases=section.aliases)
    except ValidationError as err:
        yield ConfigIssue("voices", "-", str(err.errors(include_url=False)[0]["msg"]).removeprefix("Value error, "))


def voice_files_have_a_volume(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """A reference or an adapter is a file on the voices volume: without one the runtime cannot read it."""
    if config.voices.volume_claim is not None:
        return
    for index, voice in enumerate(config.voices.voices):
        if voice.kind != "design":
            field = "reference" if voice.kind == "clone" else "lora"
            yield ConfigIssue(
                f"voices.voices[{index}].{field}",
                getattr(voice, field),
                "is a file on the voices volume: set voices.volumeClaim to the claim that holds it",
            )


def lora_voices_have_an_engine(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """No tier a stack renders swaps LoRA adapters per request: the cloud's vLLM-Omni does not, nor the edge's
    llama.cpp; only the in-process voxcpm engine does. Every request for such a voice would be refused, so the
    stack is refused instead, saying where LoRA voices are served."""
    for index, voice in enumerate(config.voices.voices):
        if voice.kind == "lora":
            yield ConfigIssue(
                f"voices.voices[{index}].lora",
                voice.lora,
                "no tier of a stack serves LoRA voices (vLLM-Omni and llama.cpp swap no adapters per request); "
                "the voxcpm engine does: voxdeploy serve --engine voxcpm --lora with a settings file's voices",
            )


def admin_keys_need_keys(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """Admin keys name keys of auth.keysSecret; without keys checked no one is an admin, or everyone is."""
    if config.voices.admin_keys and not checks_keys(config):
        yield ConfigIssue(
            "voices.adminKeys", config.voices.admin_keys, "names keys of auth.keysSecret: set auth.keysSecret"
        )


VOICE_CHECKS = (voices_resolve, voice_files_have_a_volume, lora_voices_have_an_engine, admin_keys_need_keys)
