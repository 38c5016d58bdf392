"""Per-stack policy settings: the namespace's GPU quota, severity overrides, and waivers with their reasons.

The rules themselves live in infra/policy/ and run over the built objects; this model only says how a
stack tunes them. A violation is never silenced without a written reason, and a waiver that no longer
matches anything is reported, so the list of exceptions stays as short as the truth.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from voxdeploy.contracts.base import StrictModel
from voxdeploy.infra.config.rule_ids import RULE_IDS, known_rule

__all__ = ["RULE_IDS", "PolicyConfig", "RuleId", "Severity", "Waiver"]

RuleId = Annotated[str, AfterValidator(known_rule), Field(json_schema_extra={"enum": list(RULE_IDS)})]
"""A policy rule id: one of `rule_ids.RULE_IDS` (the one list; infra/policy/rules.py implements exactly these)."""

Severity = Literal["error", "warning"]

WAIVER_OBJECT = r"^(\*|[A-Z][A-Za-z0-9]*/[a-z0-9.*?-]+)$"
"""`*` (every object), or `Kind/name` where the name may use shell wildcards.

Examples: `Deployment/voxcpm`, `DaemonSet/edge-*`.
"""


class Waiver(StrictModel):
    """An accepted violation: which rule, on which objects, and why it is acceptable."""

    rule: RuleId = Field(..., description="Rule id the waiver silences, e.g. image-digest.")
    object: str = Field(
        ...,
        pattern=WAIVER_OBJECT,
        description=(
            "Kind/name of the object (the stack's namespace is implied; shell wildcards allowed), or * for all."
        ),
    )
    reason: str = Field(
        ..., description="Why the violation is accepted (and ideally until when); shown in every report."
    )

    @field_validator("reason")
    @classmethod
    def _says_why(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("a waiver needs a reason: say why the violation is acceptable for this stack")
        return reason


class PolicyConfig(StrictModel):
    """How `voxdeploy validate` and `plan` judge this stack's objects before anything is applied."""

    gpu_quota: int | None = Field(
        None,
        ge=0,
        description="GPUs the namespace may use (its ResourceQuota); the most replicas of every GPU workload must "
        "fit. Unset skips the check.",
    )
    severities: dict[RuleId, Severity] = Field(
        {}, description="Rule id -> error or warning, overriding the rule's own severity for this stack."
    )
    waivers: list[Waiver] = Field([], description="Violations accepted for this stack, each with its reason.")
