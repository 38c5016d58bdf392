"""What a rule finds and what a report shows: the shapes every rule module shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.policy import RuleId, Severity

KubeObject = Mapping[str, Any]
"""A Kubernetes object as the builders make it (JSON-shaped, so its values are untyped)."""

STALE_WAIVER = "stale-waiver"
"""Pseudo-rule of a waiver that matched nothing: reported, never waivable itself."""


@dataclass(frozen=True)
class Finding:
    """One problem a rule found: the object (see `object_ref`) and what is wrong and how to fix it."""

    object: str
    message: str


Check = Callable[[DeploymentConfig, Sequence[KubeObject]], Iterator[Finding]]


@dataclass(frozen=True)
class Rule:
    """A rule: its id (what waivers and severity overrides name), default severity, and check."""

    id: RuleId
    severity: Severity
    check: Check


@dataclass(frozen=True)
class Violation:
    """A finding as reported: graded, and waived (with the stack's reason) or not."""

    rule: str
    object: str
    severity: Severity
    message: str
    waived: bool = False
    reason: str = ""


def object_ref(obj: KubeObject) -> str:
    """`Kind/namespace/name`, or `Kind/name` for a cluster-scoped object."""
    metadata = obj.get("metadata")
    assert isinstance(metadata, Mapping), "builders always set metadata"
    namespace = metadata.get("namespace")
    middle = f"{namespace}/" if namespace else ""
    return f"{obj['kind']}/{middle}{metadata['name']}"
