"""The hybrid router's objects; its endpoints are this stack's own Services unless the stack names URLs."""

from __future__ import annotations

from voxdeploy.contracts.router import TIERS, RouterSettings, Tier
from voxdeploy.infra.builders import workloads
from voxdeploy.infra.builders.edge import pool_name
from voxdeploy.infra.builders.workloads import Component, KubeObject
from voxdeploy.infra.config.cloud import Probes, grace_period_seconds
from voxdeploy.infra.config.deployment import DeploymentConfig

COMPONENT = "hybrid-router"
ROUTER_PROBES = Probes(max_startup_seconds=60, period_seconds=5)


def service_url(config: DeploymentConfig, name: str, port: int) -> str:
    return f"http://{name}.{config.namespace}.svc.cluster.local:{port}"


def own_endpoints(config: DeploymentConfig) -> dict[Tier, list[str]]:
    """Endpoints this stack deploys itself: the cloud Service and one Service per edge pool."""
    found: dict[Tier, list[str]] = {}
    if config.cloud.enabled:
        found["cloud"] = [service_url(config, config.cloud.name, config.cloud.service.port)]
    if config.edge.enabled and config.edge.pools:
        found["edge"] = [service_url(config, pool_name(pool), config.edge.server.port) for pool in config.edge.pools]
    return found


def router_settings(config: DeploymentConfig) -> RouterSettings:
    """What `voxdeploy serve --router` runs with: the stack's policy, explicit endpoints winning per tier."""
    router = config.hybrid
    endpoints = {**own_endpoints(config), **router.endpoints}
    return RouterSettings(
        policy=router.policy,
        health=router.health,
        endpoints={tier: endpoints[tier] for tier in TIERS if endpoints.get(tier)},
        tier_timeout_seconds=router.tier_timeout_seconds,
        server=router.server,
        speech=router.speech,
    )


def identity(config: DeploymentConfig) -> Component:
    return workloads.component(config, config.hybrid.name, COMPONENT, config.hybrid.image.tag)


def router_objects(config: DeploymentConfig) -> list[KubeObject]:
    """ServiceAccount, settings, Deployment, Service, HPA, PDB and NetworkPolicy of the router."""
    router = config.hybrid
    c = identity(config)
    settings = workloads.settings_config_map(config, c, router_settings(config).model_dump(mode="json"))
    settings_volume, settings_mount = workloads.settings_volume(c)
    resources: dict[str, object] = {
        "requests": router.resources.requests.model_dump(),
        "limits": router.resources.limits.model_dump(),
    }
    container = workloads.runtime_container(
        router.image,
        workloads.serve_args("--router"),
        router.server.port,
        resources,
        ROUTER_PROBES,
        [settings_mount, {"name": "tmp", "mountPath": "/tmp"}],
    )
    pod_spec: dict[str, object] = {
        "terminationGracePeriodSeconds": grace_period_seconds(router.server.request_timeout_seconds),
        "containers": [container],
        "volumes": [settings_volume, {"name": "tmp", "emptyDir": {}}],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": c.selector},
            }
        ],
    }
    template = workloads.pod_template(c, router.name, pod_spec, settings)
    return [
        workloads.service_account(config, c),
        settings,
        workloads.deployment(config, c, template, None, max_surge="25%"),
        workloads.service(config, c, router.server.port),
        workloads.cpu_autoscaler(config, c, router.min_replicas, router.max_replicas, 70),
        workloads.disruption_budget(config, c, {"minAvailable": router.min_replicas - 1}),
        workloads.network_policy(config, c, router.server.port, list(config.cloud.network_policy.ingress_namespaces)),
    ]
