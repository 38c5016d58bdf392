"""Cross-field rules of the `batch:` section and of a cloud tier that scales to zero between batches (listed in
checks.CHECKS): each yields what is wrong, naming the field."""

from __future__ import annotations

from collections.abc import Iterator

from voxdeploy.infra.config.access_checks import checks_keys
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.errors import MISSING, ConfigIssue


def batch_has_what_it_needs(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """The Job calls the cloud Service, reads and writes its volume, and sends a key where the pods check keys:
    without any of them every shard fails, after its retries, and only then."""
    batch = config.batch
    if not batch.enabled:
        return
    if not config.cloud.enabled:
        yield ConfigIssue("batch.enabled", True, "the batch Job calls the cloud tier: enable cloud, or disable batch")
    if batch.volume_claim is None:
        yield ConfigIssue(
            "batch.volumeClaim",
            MISSING,
            f"name the PersistentVolumeClaim holding {batch.input} (mounted read-write at /batch; results go to "
            "/batch/results)",
        )
    if checks_keys(config) and batch.api_key_secret is None:
        yield ConfigIssue(
            "batch.apiKeySecret",
            MISSING,
            "the cloud pods check API keys: name the Secret and key the batch pods send, e.g. "
            f"{{name: {config.auth.keys_secret}, key: batch}} (a key of auth.keysSecret)",
        )


def batch_shards_fit(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """What the Job API refuses at apply time, refused now: more pods at once, or more failed shards tolerated,
    than there are shards."""
    batch = config.batch
    if not batch.enabled:
        return
    if batch.parallelism > batch.shards:
        yield ConfigIssue(
            "batch.parallelism", batch.parallelism, f"must be <= batch.shards ({batch.shards}): one pod per shard"
        )
    if batch.max_failed_indexes is not None and batch.max_failed_indexes > batch.shards:
        yield ConfigIssue(
            "batch.maxFailedIndexes", batch.max_failed_indexes, f"must be <= batch.shards ({batch.shards})"
        )


def scale_to_zero_fits(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """minReplicas 0: only KEDA scales a Deployment to zero and back (an HPA cannot, short of Kubernetes' alpha
    HPAScaleToZero gate); at zero the runtime exports nothing, so only the batch Job's presence wakes the tier; and
    a request arriving at zero waits for a whole model load, which no interactive latency target survives."""
    cloud, scaling = config.cloud, config.cloud.autoscaling
    if not (cloud.enabled and scaling.enabled and scaling.min_replicas == 0):
        return
    at = "cloud.autoscaling.minReplicas"
    signal = scaling.signal
    if signal.metric == "cpu" or signal.backend != "keda":
        yield ConfigIssue(
            at,
            0,
            "an HPA cannot scale to zero: scale on a Prometheus signal through KEDA, e.g. cloud.autoscaling.signal "
            "{metric: queued, backend: keda}, or keep at least 1 replica",
        )
    if not config.batch.enabled:
        yield ConfigIssue(
            at,
            0,
            "at zero only the batch Job's presence wakes the tier (no runtime pod exports a load signal): enable "
            "batch, or keep at least 1 replica",
        )
    latency, startup = config.slo.p95_latency_seconds, cloud.pod.probes.max_startup_seconds
    if latency < startup:
        yield ConfigIssue(
            at,
            0,
            f"slo.p95LatencySeconds ({latency:g} s) is below the cold start from zero "
            f"(cloud.pod.probes.maxStartupSeconds {startup} s): a request arriving at zero waits for a model load; "
            f"keep at least 1 replica for interactive traffic, or, for a batch-only tier, raise "
            f"slo.p95LatencySeconds to {startup} or more",
        )


BATCH_CHECKS = (batch_has_what_it_needs, batch_shards_fit, scale_to_zero_fits)
