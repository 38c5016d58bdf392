"""Waivers: each silences exactly the violations it names, always with a reason, and a stale one is reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.policy import built, config_of, of_rule, unwaived_errors
from tests.support.stacks import mutated
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import ConfigError, load_stack
from voxdeploy.infra.policy import RULES, STALE_WAIVER, evaluate

DIGEST_LATER = "digests come with the signed release pipeline; until then tags are immutable in our registry"


def waiver(rule: str, obj: str, reason: str = DIGEST_LATER) -> dict:
    return {"rule": rule, "object": obj, "reason": reason}


def test_a_waiver_silences_what_it_names_and_keeps_its_reason() -> None:
    config, objects = built("prod", "policy", {"gpuQuota": 8, "waivers": [waiver("image-digest", "Deployment/voxcpm")]})
    violations = evaluate(config, objects)
    [digest] = of_rule(violations, "image-digest")
    assert digest.waived and digest.reason == DIGEST_LATER
    [quota] = of_rule(violations, "gpu-quota")
    assert not quota.waived, "a waiver of one rule leaves the others alone"
    assert of_rule(violations, STALE_WAIVER) == []


@pytest.mark.parametrize(
    ("pattern", "waived"),
    [
        ("*", {"edge-m4-pro", "edge-jetson", "edge-i9", "edge-rpi5"}),
        ("DaemonSet/edge-*", {"edge-m4-pro", "edge-jetson", "edge-i9", "edge-rpi5"}),
        ("DaemonSet/edge-j*", {"edge-jetson"}),
        ("DaemonSet/edge-i9", {"edge-i9"}),
    ],
)
def test_waiver_objects_are_kind_slash_name_patterns(pattern: str, waived: set[str]) -> None:
    document = mutated("edge", "stage", "prod")
    document["config"]["voxdeploy:policy"] = {"waivers": [waiver("image-digest", pattern)]}
    config = config_of(document)
    digests = of_rule(evaluate(config, build_objects(config)), "image-digest")
    assert len(digests) == 4
    assert {v.object.rsplit("/", 1)[-1] for v in digests if v.waived} == waived


def test_a_waiver_of_another_kind_or_rule_silences_nothing_and_is_stale() -> None:
    config, objects = built(
        "prod",
        "policy",
        {
            "waivers": [
                waiver("image-digest", "DaemonSet/voxcpm"),
                waiver("probes", "Deployment/voxcpm", "the runtime has probes; this waiver names the wrong rule"),
            ]
        },
    )
    violations = evaluate(config, objects)
    assert not any(v.waived for v in violations)
    stale = of_rule(violations, STALE_WAIVER)
    assert [(v.object, v.severity) for v in stale] == [
        ("policy.waivers[0]", "warning"),
        ("policy.waivers[1]", "warning"),
    ]
    assert "remove the waiver" in stale[0].message and DIGEST_LATER in stale[0].message
    assert unwaived_errors(config, objects) == []


def test_a_waived_error_no_longer_fails_the_stack() -> None:
    config, objects = built(
        "prod",
        "policy",
        {
            "gpuQuota": 8,
            "waivers": [
                waiver("gpu-quota", "*", "quota raise to 24 GPUs approved, lands with the Q3 cluster expansion")
            ],
        },
    )
    assert unwaived_errors(config, objects) == []


@pytest.mark.parametrize(
    ("entry", "path", "says"),
    [
        ({"rule": "image-digest", "object": "*"}, "policy.waivers[0].reason", "required key is missing"),
        (waiver("image-digest", "*", "   "), "policy.waivers[0].reason", "a waiver needs a reason"),
        (waiver("image-digests", "*"), "policy.waivers[0].rule", "image-digest"),
        (waiver("image-digest", "voxcpm"), "policy.waivers[0].object", "should match pattern"),
    ],
)
def test_a_bad_waiver_is_a_config_error_naming_its_path(
    write_stack: Callable[[dict], Path], entry: dict, path: str, says: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_stack(str(write_stack(mutated("prod", "policy", {"waivers": [entry]}))))
    [issue] = raised.value.issues
    assert issue.path == path and says in issue.message


@pytest.mark.parametrize("policy", [{"waivers": [waiver("image-digests", "*")]}, {"severities": {"probe": "warning"}}])
def test_an_unknown_rule_is_refused_with_every_valid_id(write_stack: Callable[[dict], Path], policy: dict) -> None:
    with pytest.raises(ConfigError) as raised:
        load_stack(str(write_stack(mutated("prod", "policy", policy))))
    [issue] = raised.value.issues
    assert "unknown policy rule" in issue.message
    assert all(rule.id in issue.message for rule in RULES), issue.message


def test_severity_overrides_name_known_rules(write_stack: Callable[[dict], Path]) -> None:
    with pytest.raises(ConfigError) as raised:
        load_stack(str(write_stack(mutated("prod", "policy", {"severities": {"image-digets": "error"}}))))
    assert [issue.path.split(".")[:2] for issue in raised.value.issues] == [["policy", "severities"]]
