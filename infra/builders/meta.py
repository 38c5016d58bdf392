"""Names, labels and metadata every builder shares.

Selectors use only labels that never change across upgrades (name, instance, component); the
version and user labels go on objects but never into selectors, so a rollout never orphans pods.
"""

from __future__ import annotations

from voxdeploy.infra.config.deployment import DeploymentConfig

MANAGED_BY = "voxdeploy"
PSS_LEVEL = "restricted"
RUN_AS_USER = 10001
"""Non-root uid of the runtime image (runtime/Dockerfile creates it)."""


def instance(config: DeploymentConfig, name: str) -> str:
    """app.kubernetes.io/instance: one per environment, so two environments can share a namespace."""
    return f"{name}-{config.environment}"


def shared_name(config: DeploymentConfig, kind: str, name: str) -> str:
    """Name of an object the stack puts in a namespace other stacks share (prometheus-adapter's, Grafana's).

    `voxdeploy-<kind>.<namespace>.<name>`: no two stacks run a component of one name in one namespace, and
    neither name can hold a dot, so no other stack renders it; a fixed name made two stacks own one object.
    """
    return f"{MANAGED_BY}-{kind}.{config.namespace}.{name}"


def selector_labels(config: DeploymentConfig, name: str, component: str) -> dict[str, str]:
    """The labels a Service, PDB, HPA or NetworkPolicy selects pods by."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance(config, name),
        "app.kubernetes.io/component": component,
    }


def namespace_selector(name: str) -> dict[str, object]:
    """Selects one namespace by the label Kubernetes itself puts on every namespace (kubernetes.io/metadata.name):
    no label the namespace's owner must remember to add."""
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def labels(config: DeploymentConfig, name: str, component: str, version: str | None = None) -> dict[str, str]:
    """Recommended labels for an object of a component, plus the stack's own labels."""
    result = {
        **config.labels,
        **selector_labels(config, name, component),
        "app.kubernetes.io/part-of": config.part_of,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    if version is not None:
        result["app.kubernetes.io/version"] = version[:63]
    return result


def metadata(config: DeploymentConfig, object_name: str, object_labels: dict[str, str]) -> dict[str, object]:
    """metadata of a namespaced object."""
    return {"name": object_name, "namespace": config.namespace, "labels": object_labels}


def namespace(config: DeploymentConfig) -> dict[str, object]:
    """The namespace, enforcing Pod Security 'restricted' so nothing less secure can be scheduled."""
    pss = {f"pod-security.kubernetes.io/{mode}": PSS_LEVEL for mode in ("enforce", "audit", "warn")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": config.namespace,
            "labels": {
                **config.labels,
                "app.kubernetes.io/part-of": config.part_of,
                "app.kubernetes.io/managed-by": MANAGED_BY,
                **pss,
            },
        },
    }
