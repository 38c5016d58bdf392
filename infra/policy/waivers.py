"""Waivers: a stack accepts a violation by rule and object, with a reason that every report repeats.

A waiver that matches nothing is itself reported (as a warning), so an exception outlives neither the
problem it excused nor a rename of the object it named.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from fnmatch import fnmatchcase

from voxdeploy.infra.config.policy import Waiver
from voxdeploy.infra.policy.violations import STALE_WAIVER, Violation


def matches(waiver: Waiver, violation: Violation) -> bool:
    """Same rule, and `*` or the violation's Kind/name (namespace dropped: a stack has one) fits the pattern."""
    if waiver.rule != violation.rule:
        return False
    kind, *_, name = violation.object.split("/")
    return waiver.object == "*" or fnmatchcase(f"{kind}/{name}", waiver.object)


def apply_waivers(violations: Sequence[Violation], waivers: Sequence[Waiver]) -> list[Violation]:
    """Violations with the first matching waiver's reason attached, then a warning per waiver that matches none."""
    result = []
    for violation in violations:
        waiver = next((w for w in waivers if matches(w, violation)), None)
        result.append(violation if waiver is None else replace(violation, waived=True, reason=waiver.reason))
    for index, waiver in enumerate(waivers):
        if not any(matches(waiver, violation) for violation in violations):
            result.append(
                Violation(
                    STALE_WAIVER,
                    f"policy.waivers[{index}]",
                    "warning",
                    f"waives {waiver.rule} for {waiver.object}, which has no such violation; remove the waiver "
                    f"(its reason was: {waiver.reason})",
                )
            )
    return result
