"""The policy report `voxdeploy validate` and `plan` print before anything is applied.

Unwaived errors decide the exit code; warnings and waived violations are shown so that an accepted
exception stays visible, with its reason, every time the stack is checked.
"""

from __future__ import annotations

from collections.abc import Sequence

from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.policy import RULES, Violation, evaluate
from voxdeploy.infra.policy.violations import KubeObject


def _count(items: Sequence[object], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _entry(violation: Violation) -> list[str]:
    graded = f" ({violation.severity})" if violation.waived else ""
    lines = [f"  {violation.rule}{graded}  {violation.object}", f"    {violation.message}"]
    if violation.waived:
        lines.append(f"    reason: {violation.reason}")
    return lines


def report(config: DeploymentConfig, objects: Sequence[KubeObject]) -> tuple[str, int]:
    """(printable report, number of unwaived errors): the caller exits 2 when that number is not 0."""
    violations = evaluate(config, objects)
    groups = {
        "errors": [v for v in violations if not v.waived and v.severity == "error"],
        "warnings": [v for v in violations if not v.waived and v.severity == "warning"],
        "waived": [v for v in violations if v.waived],
    }
    errors = groups["errors"]
    counts = f"{_count(errors, 'error')}, {_count(groups['warnings'], 'warning')}, {len(groups['waived'])} waived"
    lines = [f"policy ({len(RULES)} rules): {counts}"]
    for title, group in groups.items():
        if group:
            lines.append(f"{title}:")
            lines.extend(line for violation in group for line in _entry(violation))
    if errors:
        lines.append("fix the errors, or accept one under voxdeploy:policy.waivers with its rule, object and reason")
    return "\n".join(lines) + "\n", len(errors)
