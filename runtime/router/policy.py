"""Which tier serves a request: the reference article's orchestrator, with its thresholds from config.

Pure functions over a small profile of the request, so every branch is a table row in a test and the
router's HTTP code holds no routing logic of its own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from voxdeploy.contracts.api import LATENCY_BUDGET_HEADER, QUALITY_HEADER
from voxdeploy.contracts.router import RoutingPolicy, Tier
from voxdeploy.runtime.api import SpeechRequest
from voxdeploy.runtime.http import ApiError
from voxdeploy.runtime.text import leading_voice_design

Quality = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class RequestProfile:
    """What the policy looks at; nothing else about a request decides its tier."""

    text_length: int
    has_reference_audio: bool = False
    voice_design: bool = False
    library_voice: bool = False
    """The voice is one of the library's (clone, design or LoRA), not the model's own."""
    latency_budget_ms: int | None = None
    quality: Quality | None = None


def request_profile(
    speech: SpeechRequest, has_reference_audio: bool, headers: Mapping[str, str], plain_voices: Collection[str]
) -> RequestProfile:
    """The profile of a validated request; a routing header with a bad value is a 400 naming the header."""
    lowered = {name.lower(): value for name, value in headers.items()}
    design = bool(speech.instructions and speech.instructions.strip()) or leading_voice_design(speech.input) is not None
    return RequestProfile(
        text_length=len(speech.input),
        has_reference_audio=has_reference_audio,
        voice_design=design,
        library_voice=speech.voice_name not in plain_voices,
        latency_budget_ms=_budget(lowered.get(LATENCY_BUDGET_HEADER.lower())),
        quality=_quality(lowered.get(QUALITY_HEADER.lower())),
    )


MAX_BUDGET_DIGITS = 9


def _budget(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip()
    # At most 9 digits (over 11 days): a longer one is no budget, and int() of thousands of digits raises.
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_BUDGET_DIGITS) or int(text) == 0:
        raise ApiError(
            400,
            f"{LATENCY_BUDGET_HEADER} must be a positive whole number of milliseconds, not {value!r}",
            LATENCY_BUDGET_HEADER,
        )
    return int(text)


def _quality(value: str | None) -> Quality | None:
    if value is None:
        return None
    text = value.strip().lower()
    for quality in get_args(Quality):
        if text == quality:
            return quality
    raise ApiError(
        400, f"{QUALITY_HEADER} must be one of {', '.join(get_args(Quality))}, not {value!r}", QUALITY_HEADER
    )


def choose_tier(profile: RequestProfile, policy: RoutingPolicy) -> Tier:
    """The article's order: a short text in a hurry goes to edge even if it clones or designs a voice
    (the budget is what the caller asked for); then cloning, voice design, a library voice (one of those, or a
    LoRA voice) and high quality need the cloud's full-precision model; then medium text suits fog; the rest is
    cloud's."""
    budget = profile.latency_budget_ms
    if profile.text_length < policy.edge_max_chars and budget is not None and budget < policy.edge_latency_budget_ms:
        return "edge"
    if profile.voice_design or profile.has_reference_audio or profile.library_voice:
        return "cloud"
    if profile.quality == "high" and policy.high_quality_to_cloud:
        return "cloud"
    if profile.text_length < policy.fog_max_chars:
        return "fog"
    return "cloud"


def attempt_order(tier: Tier, policy: RoutingPolicy, available_tiers: Collection[Tier]) -> list[Tier]:
    """The chosen tier, then its fallbacks, leaving out tiers with no endpoints and repeats."""
    order: list[Tier] = []
    for candidate in (tier, *policy.fallback.get(tier, ())):
        if candidate in available_tiers and candidate not in order:
            order.append(candidate)
    return order
