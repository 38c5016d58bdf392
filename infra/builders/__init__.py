"""config -> plain Kubernetes objects, grouped by concern.

Pure functions only: no I/O, no clock, no Pulumi. The Pulumi program makes one ComponentResource per
group; `voxdeploy render` flattens the groups into files. Both therefore see the same objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxdeploy.infra.builders import (
    auth,
    batch,
    cloud,
    edge,
    hybrid,
    loadtest,
    meta,
    network,
    rollout,
    route,
    secrets,
)
from voxdeploy.infra.config.deployment import DeploymentConfig

KubeObject = dict[str, object]


@dataclass(frozen=True)
class Group:
    """Objects that belong to one concern (identity, serving, scaling...), created and parented together."""

    concern: str
    objects: tuple[KubeObject, ...]


def build_groups(config: DeploymentConfig) -> list[Group]:
    """Every object of an environment, by concern, in dependency order; empty groups are left out."""
    # Deferred: infra.observability builds on meta and cloud, so importing it at the top would be circular.
    from voxdeploy.infra.observability import objects as observability_objects

    groups = []
    if config.create_namespace:
        groups.append(Group("namespace", (meta.namespace(config),)))
    groups.append(Group("secrets", (*secrets.external_secrets(config), *auth.external_secrets(config))))
    if config.cloud.enabled:
        groups += [
            Group("cloud-identity", (cloud.service_account(config),)),
            Group("cloud-storage", tuple(cloud.model_cache_claim(config))),
            Group(
                "cloud-serving",
                (
                    cloud.runtime_config_map(config),
                    *(rollout.rollout_objects(config) if config.cloud.canary else [cloud.deployment(config)]),
                    cloud.service(config),
                ),
            ),
            Group("cloud-scaling", (*cloud.autoscaler(config), *cloud.disruption_budget(config))),
            Group("cloud-network", tuple(network.cloud_policies(config))),
            Group("cloud-observability", tuple(observability_objects(config))),
        ]
    groups += [Group(concern, tuple(objects)) for concern, objects in edge.edge_groups(config)]
    groups.append(Group("edge-network", tuple(network.edge_policies(config))))
    groups.append(Group("edge-observability", tuple(observability_objects(config, "edge"))))
    if config.hybrid.enabled:
        groups.append(Group("hybrid-router", (*hybrid.router_objects(config), network.router_policy(config))))
        groups.append(Group("hybrid-observability", tuple(observability_objects(config, "hybrid"))))
    if config.batch.enabled:
        groups.append(Group("batch", (*batch.batch_objects(config), network.batch_policy(config))))
    if config.loadtest.enabled:
        groups.append(Group("loadtest", (*loadtest.loadtest_objects(config), *network.loadtest_policies(config))))
    groups.append(Group("route", tuple(route.route_objects(config))))
    return [group for group in groups if group.objects]


def build_objects(config: DeploymentConfig) -> list[KubeObject]:
    """Every object of an environment, flat, in the order they are created."""
    return [obj for group in build_groups(config) for obj in group.objects]
