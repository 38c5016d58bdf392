"""The batch Job's objects: a ServiceAccount and an Indexed Job of `voxdeploy batch run` pods against the cloud
Service (its NetworkPolicy, which needs the cloud pods, is network.batch_policy).

Each index is one shard of the input; Kubernetes sets JOB_COMPLETION_INDEX in the pod, which the runner reads as its
shard. Failures are counted per shard (backoffLimitPerIndex); the pod failure policy fails a shard at once when the
runner refuses its input, and does not count a pod that was evicted or preempted, which is no fault of the shard.
"""

from __future__ import annotations

from voxdeploy.contracts.api import API_KEY_ENV
from voxdeploy.infra.builders import hybrid, meta, workloads
from voxdeploy.infra.builders.workloads import Component, KubeObject
from voxdeploy.infra.config.batch import BATCH_DIR, RESULTS_DIR
from voxdeploy.infra.config.deployment import DeploymentConfig

COMPONENT = "batch"
BAD_INPUT_EXIT_CODE = 2
"""`voxdeploy batch run`'s exit status for wrong flags or bad input with --strict (voxdeploy.cli.common.EXIT_USAGE):
a retry would fail the same way."""
PULUMI_SKIP_AWAIT = "pulumi.com/skipAwait"
"""pulumi-kubernetes waits for a Job to complete (10 minutes, then the update fails); a batch runs for hours, and
`pulumi up` should only start it."""


def identity(config: DeploymentConfig) -> Component:
    return workloads.component(config, config.batch.name, COMPONENT, config.cloud.pod.image.tag)


def cloud_url(config: DeploymentConfig) -> str:
    """The cloud Service inside the cluster, as the router's endpoints spell it (network.own_services resolves it)."""
    return hybrid.service_url(config, config.cloud.name, config.cloud.service.port)


def run_args(config: DeploymentConfig) -> list[str]:
    """The runner's argv after the image's entrypoint (`voxdeploy`); the shard index comes from the environment."""
    batch = config.batch
    return [
        "batch",
        "run",
        "--input",
        f"{BATCH_DIR}/{batch.input}",
        "--output",
        RESULTS_DIR,
        "--host",
        cloud_url(config),
        "--concurrency",
        str(batch.concurrency),
        "--shards",
        str(batch.shards),
    ]


def _volumes(config: DeploymentConfig) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(volumes, mounts): the batch volume read-write, and /tmp, the only other path a read-only root lets it write."""
    return (
        [
            {"name": "batch", "persistentVolumeClaim": {"claimName": config.batch.volume_claim}},
            {"name": "tmp", "emptyDir": {}},
        ],
        [{"name": "batch", "mountPath": BATCH_DIR}, {"name": "tmp", "mountPath": "/tmp"}],
    )


def _env(config: DeploymentConfig) -> list[dict[str, object]]:
    key = config.batch.api_key_secret
    if key is None:
        return []
    return [{"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": key.name, "key": key.key}}}]


def pod_failure_policy() -> dict[str, object]:
    """Bad input fails its shard without retries; a disruption (eviction, preemption, node drain) is retried without
    counting against the shard's backoffLimitPerIndex."""
    return {
        "rules": [
            {
                "action": "FailIndex",
                "onExitCodes": {"containerName": "batch", "operator": "In", "values": [BAD_INPUT_EXIT_CODE]},
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        ]
    }


def job(config: DeploymentConfig) -> KubeObject:
    """The Indexed Job: `shards` completions, `parallelism` at once, retried per shard. restartPolicy Never, which a
    pod failure policy requires: a failed pod is replaced by a new one, which the policy can judge."""
    batch = config.batch
    c = identity(config)
    volumes, mounts = _volumes(config)
    container: dict[str, object] = {
        "name": "batch",
        "image": config.cloud.pod.image.reference,
        "imagePullPolicy": config.cloud.pod.image.pull_policy,
        "args": run_args(config),
    }
    env = _env(config)
    if env:
        container["env"] = env
    container |= {
        "resources": workloads.resources_spec(batch.resources),
        "securityContext": workloads.container_security_context(),
        "volumeMounts": mounts,
    }
    pod_spec: dict[str, object] = {"restartPolicy": "Never", "containers": [container], "volumes": volumes}
    spec: dict[str, object] = {
        "completionMode": "Indexed",
        "completions": batch.shards,
        "parallelism": batch.parallelism,
        "backoffLimitPerIndex": batch.backoff_limit_per_index,
    }
    if batch.max_failed_indexes is not None:
        spec["maxFailedIndexes"] = batch.max_failed_indexes
    spec["podFailurePolicy"] = pod_failure_policy()
    if batch.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = batch.active_deadline_seconds
    if batch.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = batch.ttl_seconds_after_finished
    spec["template"] = workloads.pod_template(c, c.name, pod_spec)
    metadata = meta.metadata(config, c.name, c.labels)
    metadata["annotations"] = {PULUMI_SKIP_AWAIT: "true"}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def batch_objects(config: DeploymentConfig) -> list[KubeObject]:
    """The Job's own identity (no API token: the runner never calls Kubernetes), then the Job."""
    return [workloads.service_account(config, identity(config)), job(config)]
