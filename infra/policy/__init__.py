"""Policy: rules over the built objects, run by `voxdeploy validate` and `plan` before anything is applied.

Pure functions of (config, objects), like the builders: no I/O, no cluster. Each rule is a small
function in a module by subject (pod_security, containers, capacity); rules.py lists them with their
ids and severities, and waivers.py applies the stack's accepted exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence

from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.policy.rules import RULES
from voxdeploy.infra.policy.violations import STALE_WAIVER, KubeObject, Rule, Violation
from voxdeploy.infra.policy.waivers import apply_waivers

__all__ = ["RULES", "STALE_WAIVER", "Rule", "Violation", "evaluate"]


def evaluate(config: DeploymentConfig, objects: Sequence[KubeObject]) -> list[Violation]:
    """Every violation of the stack's objects, in rule order, graded and waived as the stack's policy says."""
    policy = config.policy
    violations = [
        Violation(rule.id, finding.object, policy.severities.get(rule.id, rule.severity), finding.message)
        for rule in RULES
        for finding in rule.check(config, objects)
    ]
    return apply_waivers(violations, policy.waivers)
