"""The hybrid router's objects; its endpoints are this stack's own Services unless the stack names URLs."""

from __future__ import annotations

from voxdeploy.contracts.router import TIERS, RouterBehaviour, RouterSettings, Tier
from voxdeploy.infra.builders import auth, workloads
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
    """What `voxdeploy serve --router` runs with: every behaviour field of the stack's router as it is (a field
    added to RouterBehaviour reaches the pods with no change here), explicit endpoints winning per tier."""
    router = config.hybrid
    endpoints = {**own_endpoints(config), **router.endpoints}
    behaviour = {name: getattr(router, name) for name in RouterBehaviour.model_fields}
    if "plain_voices" not in router.policy.model_fields_set:  # what the stack's voices mean, unless said here
        behaviour["policy"] = router.policy.model_copy(update={"plain_voices": config.voices.plain_voices})
    return RouterSettings(
        **{**behaviour, "server": workloads.pod_server(router.server)},
        endpoints={tier: endpoints[tier] for tier in TIERS if endpoints.get(tier)},
        auth=auth.router_auth(config),
        upstream_key=auth.upstream_key(config),
    )


def identity(config: DeploymentConfig) -> Component:
    return workloads.component(config, config.hybrid.name, COMPONENT, config.hybrid.image.tag)


def router_objects(config: DeploymentConfig) -> list[KubeObject]:
    """ServiceAccount, settings, Deployment, Service, HPA and PDB of the router (its NetworkPolicy, which needs
    the tiers' pods, is network.router_policy)."""
    router = config.hybrid
    c = identity(config)
    settings = workloads.settings_config_map(config, c, router_settings(config).model_dump(mode="json"))
    settings_volume, settings_mount = workloads.settings_volume(c)
    key_volumes, key_mounts = auth.router_volumes(config)
    container = workloads.runtime_container(
        router.image,
        workloads.serve_args("--router"),
        router.server,
        workloads.resources_spec(router.resources),
        ROUTER_PROBES,
        [settings_mount, {"name": "tmp", "mountPath": "/tmp"}, *key_mounts],
    )
    pod_spec: dict[str, object] = {
        "terminationGracePeriodSeconds": grace_period_seconds(router.server),
        "containers": [container],
        "volumes": [settings_volume, {"name": "tmp", "emptyDir": {}}, *key_volumes],
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
        workloads.service(config, c, router.server.port, router.server),
        workloads.cpu_autoscaler(config, c, router.min_replicas, router.max_replicas, 70),
        workloads.disruption_budget(config, c, {"minAvailable": router.min_replicas - 1}),
    ]
