"""Cross-field rules of the `loadtest:` section (listed in checks.CHECKS): each yields what is wrong, naming the
field."""

from __future__ import annotations

from collections.abc import Iterator

from voxdeploy.infra.config.access_checks import checks_keys
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.errors import MISSING, ConfigIssue

TARGET_TIERS = {"cloud": "cloud", "router": "hybrid"}
"""loadtest.target -> the section that deploys it."""


def loadtest_has_a_target(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """The Jobs load one of the stack's own Services: without it every request fails and the gate with them; at
    zero replicas nothing answers (only the batch Job's presence wakes a tier at zero)."""
    loadtest = config.loadtest
    if not loadtest.enabled:
        return
    section = TARGET_TIERS[loadtest.target]
    enabled = config.cloud.enabled if loadtest.target == "cloud" else config.hybrid.enabled
    if not enabled:
        yield ConfigIssue(
            "loadtest.target",
            loadtest.target,
            f"the load test calls the {loadtest.target} tier, which is not deployed: enable {section}, set "
            f"loadtest.target to a tier the stack deploys, or disable loadtest",
        )
    elif loadtest.target == "cloud" and config.cloud.autoscaling.enabled and config.cloud.autoscaling.min_replicas == 0:
        yield ConfigIssue(
            "loadtest.target",
            loadtest.target,
            "the cloud tier scales to zero (cloud.autoscaling.minReplicas 0) and nothing a load test does wakes it: "
            "keep at least 1 replica while the gate runs",
        )


def loadtest_fits(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """Every worker gets a user, the Jobs outlive the test, and the workers send a key where the pods check keys."""
    loadtest = config.loadtest
    if not loadtest.enabled:
        return
    if loadtest.workers > loadtest.users:
        yield ConfigIssue(
            "loadtest.workers",
            loadtest.workers,
            f"must be <= loadtest.users ({loadtest.users}): a worker without a user makes no request",
        )
    deadline = loadtest.active_deadline_seconds
    if deadline is not None and deadline <= loadtest.duration_seconds:
        yield ConfigIssue(
            "loadtest.activeDeadlineSeconds",
            deadline,
            f"must be longer than loadtest.duration ({loadtest.duration} = {loadtest.duration_seconds} s), with room "
            "for the pods to start and the master to wait for its workers; or leave it unset",
        )
    if checks_keys(config) and loadtest.api_key_secret is None:
        yield ConfigIssue(
            "loadtest.apiKeySecret",
            MISSING,
            f"the {loadtest.target} pods check API keys: name the Secret and key the load-test pods send, e.g. "
            f"{{name: {config.auth.keys_secret}, key: loadtest}} (a key of auth.keysSecret)",
        )


def canary_fits(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """A canary's load-test step runs this stack's loadtest: against the cloud tier; and a Rollout at zero replicas
    could not wake, since the wake-up query reads kube-state-metrics' Deployment series, which a Rollout has not."""
    cloud = config.cloud
    if not cloud.canary:
        return
    if cloud.rollout.canary.analysis.load_test and not (config.loadtest.enabled and config.loadtest.target == "cloud"):
        yield ConfigIssue(
            "cloud.rollout.canary.analysis.loadTest",
            True,
            "the load-test step runs the stack's loadtest: section against the cloud tier: enable loadtest with "
            "target cloud, or set loadTest false",
        )
    if cloud.autoscaling.enabled and cloud.autoscaling.min_replicas == 0:
        yield ConfigIssue(
            "cloud.rollout.strategy",
            "canary",
            "a canary needs running pods to judge and the tier scales to zero (cloud.autoscaling.minReplicas 0): "
            "keep minReplicas >= 1, or use strategy rollingUpdate",
        )


LOADTEST_CHECKS = (loadtest_has_a_target, loadtest_fits, canary_fits)
