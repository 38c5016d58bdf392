"""The routing policy, table-driven: every branch of choose_tier, the profile a request yields, attempt_order."""

from __future__ import annotations

import pytest

from voxdeploy.contracts.api import LATENCY_BUDGET_HEADER
from voxdeploy.contracts.router import RoutingPolicy
from voxdeploy.runtime.api import SpeechRequest
from voxdeploy.runtime.http import ApiError
from voxdeploy.runtime.router.policy import RequestProfile, attempt_order, choose_tier, request_profile

POLICY = RoutingPolicy()  # edge < 100 chars with budget < 500 ms; fog < 1000 chars; high quality -> cloud
SHORT, MEDIUM, LONG = 99, 999, 1000


@pytest.mark.parametrize(
    ("profile", "tier"),
    [
        (RequestProfile(SHORT, latency_budget_ms=499), "edge"),
        (RequestProfile(1, latency_budget_ms=1), "edge"),
        (RequestProfile(SHORT, has_reference_audio=True, latency_budget_ms=100), "edge"),  # the budget comes first
        (RequestProfile(SHORT, voice_design=True, quality="high", latency_budget_ms=100), "edge"),
        (RequestProfile(SHORT + 1, latency_budget_ms=100), "fog"),  # not short: the budget alone does not pick edge
        (RequestProfile(SHORT, latency_budget_ms=500), "fog"),  # a budget at the threshold is not tight
        (RequestProfile(SHORT), "fog"),  # no budget at all
        (RequestProfile(SHORT, voice_design=True), "cloud"),
        (RequestProfile(SHORT, has_reference_audio=True), "cloud"),
        (RequestProfile(SHORT, library_voice=True), "cloud"),  # a clone, design or LoRA voice of the library
        (RequestProfile(SHORT + 1, voice_design=True, latency_budget_ms=100), "cloud"),
        (RequestProfile(SHORT, quality="high"), "cloud"),
        (RequestProfile(SHORT, quality="medium"), "fog"),
        (RequestProfile(MEDIUM, quality="low", latency_budget_ms=10_000), "fog"),
        (RequestProfile(LONG), "cloud"),
        (RequestProfile(LONG, latency_budget_ms=100), "cloud"),
    ],
)
def test_choose_tier(profile: RequestProfile, tier: str) -> None:
    assert choose_tier(profile, POLICY) == tier


def test_high_quality_stays_off_the_cloud_when_the_policy_says_so() -> None:
    policy = RoutingPolicy(high_quality_to_cloud=False)
    assert choose_tier(RequestProfile(SHORT, quality="high"), policy) == "fog"


def test_thresholds_come_from_the_policy() -> None:
    policy = RoutingPolicy(edge_max_chars=10, edge_latency_budget_ms=50, fog_max_chars=20)
    assert choose_tier(RequestProfile(9, latency_budget_ms=49), policy) == "edge"
    assert choose_tier(RequestProfile(10, latency_budget_ms=49), policy) == "fog"
    assert choose_tier(RequestProfile(9, latency_budget_ms=50), policy) == "fog"
    assert choose_tier(RequestProfile(20), policy) == "cloud"


ALL = ("edge", "fog", "cloud")


@pytest.mark.parametrize(
    ("tier", "available", "order"),
    [
        ("edge", ALL, ["edge", "fog", "cloud"]),
        ("fog", ALL, ["fog", "cloud", "edge"]),
        ("cloud", ALL, ["cloud", "fog", "edge"]),
        ("edge", ("edge", "cloud"), ["edge", "cloud"]),  # a tier without endpoints is skipped
        ("fog", ("edge", "cloud"), ["cloud", "edge"]),  # ... even the chosen one
        ("cloud", ("edge", "cloud"), ["cloud", "edge"]),
        ("cloud", ("edge",), ["edge"]),
        ("cloud", (), []),  # nothing to try: the router answers 503 saying so
    ],
)
def test_attempt_order(tier: str, available: tuple[str, ...], order: list[str]) -> None:
    assert attempt_order(tier, POLICY, available) == order  # type: ignore[arg-type]


def test_attempt_order_drops_repeats_and_follows_a_custom_fallback() -> None:
    policy = RoutingPolicy(fallback={"cloud": ["cloud", "edge", "fog", "edge"]})
    assert attempt_order("cloud", policy, ALL) == ["cloud", "edge", "fog"]
    assert attempt_order("edge", policy, ALL) == ["edge"]  # no fallback listed for edge


def _profile(body: dict, headers: dict[str, str] | None = None, reference: bool = False) -> RequestProfile:
    return request_profile(SpeechRequest.model_validate(body), reference, headers or {}, POLICY.plain_voices)


@pytest.mark.parametrize(
    ("body", "headers", "reference", "expected"),
    [
        ({"input": "Hello."}, {}, False, RequestProfile(6)),
        ({"input": "Hello."}, {}, True, RequestProfile(6, has_reference_audio=True)),
        ({"input": "Hello.", "instructions": "a calm old man"}, {}, False, RequestProfile(6, voice_design=True)),
        ({"input": "Hello.", "instructions": "  "}, {}, False, RequestProfile(6)),
        ({"input": "(A calm old man)Hello."}, {}, False, RequestProfile(22, voice_design=True)),
        ({"input": "  (warm, slow) Hello."}, {}, False, RequestProfile(21, voice_design=True)),
        ({"input": "()Hello."}, {}, False, RequestProfile(8)),
        ({"input": "Hello (aside)."}, {}, False, RequestProfile(14)),
        ({"input": "Hi"}, {"X-Latency-Budget-Ms": "250"}, False, RequestProfile(2, latency_budget_ms=250)),
        ({"input": "Hi"}, {"x-latency-budget-ms": " 250 "}, False, RequestProfile(2, latency_budget_ms=250)),
        ({"input": "Hi"}, {"X-Quality": "HIGH"}, False, RequestProfile(2, quality="high")),
        ({"input": "Hi"}, {"x-quality": "low"}, False, RequestProfile(2, quality="low")),
        ({"input": "Hi", "voice": "nova"}, {}, False, RequestProfile(2)),
        ({"input": "Hi", "voice": {"id": "voice_0f3a"}}, {}, False, RequestProfile(2, library_voice=True)),
        ({"input": "Hi", "voice": "narrator"}, {}, False, RequestProfile(2, library_voice=True)),
    ],
)
def test_request_profile(body: dict, headers: dict[str, str], reference: bool, expected: RequestProfile) -> None:
    assert _profile(body, headers, reference) == expected


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Latency-Budget-Ms", "fast"),
        ("X-Latency-Budget-Ms", "0"),
        ("X-Latency-Budget-Ms", "-5"),
        ("X-Latency-Budget-Ms", "2.5"),
        ("X-Latency-Budget-Ms", "²"),
        ("X-Latency-Budget-Ms", ""),
        ("X-Quality", "best"),
        ("X-Quality", ""),
    ],
)
def test_a_bad_routing_header_is_a_400_naming_it(header: str, value: str) -> None:
    with pytest.raises(ApiError) as caught:
        _profile({"input": "Hi"}, {header: value})
    assert caught.value.status == 400 and caught.value.param == header
    assert header in caught.value.message and repr(value) in caught.value.message


def test_a_budget_of_thousands_of_digits_is_a_400_naming_the_header() -> None:
    with pytest.raises(ApiError) as raised:
        request_profile(SpeechRequest(input="Hi."), False, {LATENCY_BUDGET_HEADER: "9" * 4301}, ())
    assert raised.value.status == 400 and LATENCY_BUDGET_HEADER in raised.value.message
