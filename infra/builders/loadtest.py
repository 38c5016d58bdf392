"""The load test's objects: Locust distributed on the cluster against one of the stack's own Services.

- `<name>` ServiceAccount (no API token: neither side calls Kubernetes) and `<name>-stack` ConfigMap: a stack file
  holding only the stack's `slo:`, which the master judges the run by.
- `<name>-master` Job: one pod running `voxdeploy loadtest ... --expect-workers N`, never retried (backoffLimit 0):
  its exit status is the gate's verdict, and a second try would be a second chance to pass.
- `<name>-worker` Job: `workers` pods of `voxdeploy loadtest --worker`, which connect to the master, make the
  requests and exit 0 when the master ends the run.
- `<name>-master` Service: the master's Locust port (contracts.loadtest.LOCUST_MASTER_PORT), for the workers.

Their NetworkPolicies, which need the target's pods, are network.loadtest_policies.

Both Jobs' pod templates carry a digest of the whole stack (STACK_HASH_ANNOTATION). pulumi-kubernetes replaces a Job
whose `.spec.template` changed (provider/pkg/provider/diff.go, `forceNew` of batch Job), so every `pulumi up` that
changes the stack (an image, an engine flag, the SLO) runs the gate again, and one that changes nothing leaves the
last verdict standing: the gate never reports on a release it did not test. Rendered for GitOps, the Jobs ask the
controllers for the same: a Job's template cannot be patched, so Flux recreates them when it changed
(RECREATE_ON_CHANGE), and Argo CD deletes and creates them at each sync of the Application (RECREATE_ON_SYNC).
"""

from __future__ import annotations

import hashlib
import json

import yaml

from voxdeploy.contracts.api import API_KEY_ENV
from voxdeploy.contracts.loadtest import LOCUST_MASTER_PORT
from voxdeploy.infra.builders import hybrid, meta, workloads
from voxdeploy.infra.builders.batch import PULUMI_SKIP_AWAIT
from voxdeploy.infra.builders.workloads import Component, KubeObject
from voxdeploy.infra.config.cloud import Image
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.loader import PROJECT
from voxdeploy.infra.config.loadtest import REPORT_DIR

COMPONENT = "loadtest"
STACK_DIR = f"{workloads.CONFIG_DIR}/loadtest"
"""Where the master's pod mounts the stack ConfigMap."""
LOCUST_PORT_NAME = "locust"
RECREATE_ON_CHANGE = {"kustomize.toolkit.fluxcd.io/force": "enabled"}
"""Flux kustomize-controller's per-object force (fluxcd/kustomize-controller PR 787): recreate on an immutable field."""
RECREATE_ON_SYNC = {"argocd.argoproj.io/sync-options": "Force=true,Replace=true"}
"""Argo CD's per-resource Force Sync (docs/user-guide/sync-options.md), meant for "job resources that should run every
time when syncing"."""
STACK_HASH_ANNOTATION = "voxdeploy.io/stack-sha256"
"""Pod-template annotation of the load-test Jobs: the digest of the stack they test (module docstring)."""


def stack_file_name(config: DeploymentConfig) -> str:
    """`Pulumi.<environment>.yaml`: the loader names a stack after its file, so the master's reports name the
    environment they judged."""
    return f"Pulumi.{config.environment}.yaml"


def stack_path(config: DeploymentConfig) -> str:
    return f"{STACK_DIR}/{stack_file_name(config)}"


def identity(config: DeploymentConfig) -> Component:
    """The ServiceAccount's and the ConfigMap's: every load-test pod runs as it."""
    return workloads.component(config, config.loadtest.name, COMPONENT, image(config).tag)


def master_identity(config: DeploymentConfig) -> Component:
    return workloads.component(config, f"{config.loadtest.name}-master", COMPONENT, image(config).tag)


def worker_identity(config: DeploymentConfig) -> Component:
    return workloads.component(config, f"{config.loadtest.name}-worker", COMPONENT, image(config).tag)


def image(config: DeploymentConfig) -> Image:
    """loadtest.image, else the target tier's runtime image (for the cloud tier, the batch Job's)."""
    if config.loadtest.image is not None:
        return config.loadtest.image
    return config.cloud.pod.image if config.loadtest.target == "cloud" else config.hybrid.image


def target_url(config: DeploymentConfig) -> str:
    """The target's Service inside the cluster, as the router's endpoints spell it (network resolves it to pods)."""
    if config.loadtest.target == "cloud":
        return hybrid.service_url(config, config.cloud.name, config.cloud.service.port)
    return hybrid.service_url(config, config.hybrid.name, config.hybrid.server.port)


def stack_document(config: DeploymentConfig) -> dict[str, object]:
    """A stack file `voxdeploy loadtest --stack` loads (infra.config.loader.load_stack) into the same SloTargets as
    this stack's: its `slo:`, and no tier (a stack with pods would need their keys Secret to pass `validate`)."""
    return {
        "config": {
            f"{PROJECT}:environment": config.environment,
            f"{PROJECT}:cloud": {"enabled": False},
            f"{PROJECT}:slo": config.slo.model_dump(mode="json", by_alias=True),
        }
    }


def stack_hash(config: DeploymentConfig) -> str:
    """Digest of every setting of the stack: what a release changes."""
    return hashlib.sha256(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def stack_config_map_name(config: DeploymentConfig) -> str:
    return f"{config.loadtest.name}-stack"


def stack_config_map(config: DeploymentConfig) -> KubeObject:
    header = f"# The SLO of stack {config.environment}, which the load-test master judges its run by.\n"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.metadata(config, stack_config_map_name(config), identity(config).labels),
        "data": {stack_file_name(config): header + yaml.safe_dump(stack_document(config), sort_keys=False)},
    }


def master_args(config: DeploymentConfig) -> list[str]:
    """The master's argv after the image's entrypoint (`voxdeploy`)."""
    loadtest = config.loadtest
    args = [
        "loadtest",
        "--stack",
        stack_path(config),
        "--host",
        target_url(config),
        "--users",
        str(loadtest.users),
        "--spawn-rate",
        f"{loadtest.spawn_rate:g}",
        "--duration",
        loadtest.duration,
        "--scenario",
        loadtest.scenario,
    ]
    if loadtest.sizes is not None:
        args += ["--sizes", loadtest.sizes]
    if loadtest.languages is not None:
        args += ["--languages", loadtest.languages]
    return [
        *args,
        "--stream-ratio",
        f"{loadtest.stream_ratio:g}",
        "--expect-workers",
        str(loadtest.workers),
        "--master-bind-port",
        str(LOCUST_MASTER_PORT),
        "--report",
        REPORT_DIR,
        "--log-summary",
    ]


def worker_args(config: DeploymentConfig) -> list[str]:
    """A worker's argv: where the master is; the master sends it everything else."""
    return [
        "loadtest",
        "--worker",
        "--master-host",
        master_identity(config).name,
        "--master-port",
        str(LOCUST_MASTER_PORT),
    ]


def _env(config: DeploymentConfig) -> list[dict[str, object]]:
    key = config.loadtest.api_key_secret
    if key is None:
        return []
    return [{"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": key.name, "key": key.key}}}]


def _container(
    config: DeploymentConfig,
    name: str,
    args: list[str],
    resources: dict[str, object],
    mounts: list[dict[str, object]],
) -> dict[str, object]:
    """A restricted container of the load-test image. It declares no port: the master's is Locust's ZeroMQ socket,
    no HTTP a probe could ask, and the Service names it by number."""
    used = image(config)
    container: dict[str, object] = {
        "name": name,
        "image": used.reference,
        "imagePullPolicy": used.pull_policy,
        "args": args,
    }
    env = _env(config)
    if env:
        container["env"] = env
    return container | {
        "resources": resources,
        "securityContext": workloads.container_security_context(),
        "volumeMounts": mounts,
    }


def _job_spec(config: DeploymentConfig, c: Component, pod_spec: dict[str, object], **counts: int) -> KubeObject:
    loadtest = config.loadtest
    spec: dict[str, object] = {**counts, "activeDeadlineSeconds": loadtest.deadline_seconds}
    if loadtest.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = loadtest.ttl_seconds_after_finished
    template = workloads.pod_template(c, identity(config).name, {"restartPolicy": "Never", **pod_spec})
    template["metadata"]["annotations"] = {STACK_HASH_ANNOTATION: stack_hash(config)}  # type: ignore[index]
    spec["template"] = template
    return spec


def master_job_spec(config: DeploymentConfig) -> KubeObject:
    """The master Job's `spec`, whole: one pod, never retried, its exit status the verdict (an Argo Rollouts
    AnalysisTemplate `job` metric can embed it as it is)."""
    loadtest = config.loadtest
    results: dict[str, object] = (
        {"name": "results", "emptyDir": {}}
        if loadtest.volume_claim is None
        else {"name": "results", "persistentVolumeClaim": {"claimName": loadtest.volume_claim}}
    )
    container = _container(
        config,
        "master",
        master_args(config),
        workloads.resources_spec(loadtest.resources.master),
        [
            {"name": "stack", "mountPath": STACK_DIR, "readOnly": True},
            {"name": "results", "mountPath": REPORT_DIR},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    )
    pod_spec = {
        "containers": [container],
        "volumes": [
            {"name": "stack", "configMap": {"name": stack_config_map_name(config)}},
            results,
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    return _job_spec(config, master_identity(config), pod_spec, completions=1, parallelism=1, backoffLimit=0)


def _job(config: DeploymentConfig, c: Component, spec: KubeObject) -> KubeObject:
    metadata = meta.metadata(config, c.name, c.labels)
    metadata["annotations"] = {PULUMI_SKIP_AWAIT: "true", **RECREATE_ON_CHANGE, **RECREATE_ON_SYNC}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def master_job(config: DeploymentConfig) -> KubeObject:
    return _job(config, master_identity(config), master_job_spec(config))


def worker_job(config: DeploymentConfig) -> KubeObject:
    return _job(config, worker_identity(config), worker_job_spec(config))


def worker_job_spec(config: DeploymentConfig) -> KubeObject:
    """`workers` pods at once. A worker lost mid-run is replaced (backoffLimit: one replacement per worker) and the
    master gives the newcomer its share of the users; every worker exits 0 when the master ends the run."""
    loadtest = config.loadtest
    container = _container(
        config,
        "worker",
        worker_args(config),
        workloads.resources_spec(loadtest.resources.worker),
        [{"name": "tmp", "mountPath": "/tmp"}],
    )
    pod_spec = {"containers": [container], "volumes": [{"name": "tmp", "emptyDir": {}}]}
    workers = loadtest.workers
    return _job_spec(
        config, worker_identity(config), pod_spec, completions=workers, parallelism=workers, backoffLimit=workers
    )


def master_service(config: DeploymentConfig) -> KubeObject:
    """The master's Locust port, selecting the master's pod alone: what `--master-host <name>-master` resolves."""
    c = master_identity(config)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta.metadata(config, c.name, c.labels),
        "spec": {
            "type": "ClusterIP",
            "selector": c.selector,
            "ports": [
                {
                    "name": LOCUST_PORT_NAME,
                    "port": LOCUST_MASTER_PORT,
                    "targetPort": LOCUST_MASTER_PORT,
                    "protocol": "TCP",
                }
            ],
        },
    }


def loadtest_objects(config: DeploymentConfig) -> list[KubeObject]:
    """Identity and the SLO first, the master's Service before the Jobs whose pods use it; no Jobs where the cloud
    tier's canary runs them as its analysis (builders.rollout)."""
    jobs = [] if config.cloud.canary_runs_load_test else [master_job(config), worker_job(config)]
    return [
        workloads.service_account(config, identity(config)),
        stack_config_map(config),
        master_service(config),
        *jobs,
    ]
