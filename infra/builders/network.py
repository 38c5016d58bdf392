"""Every NetworkPolicy of the stack: who may reach each tier's pods and where those pods may connect to.

Ingress: the API port only, from the stack's namespace, `cloud.networkPolicy.ingressNamespaces` and, for the
route's target, the namespace of the route's proxies; the metrics port (the only one serving /metrics) only from
`cloud.networkPolicy.metricsNamespaces`, Prometheus'. Egress (unless `cloud.networkPolicy.egress.enabled` is
false): denied by default; every pod may reach cluster DNS; a pod that downloads weights reaches the hub (or the
configured proxy): the download is an init container, but NetworkPolicy selects pods, not containers, so the
allowance stays while the pod serves; the router reaches the tiers it forwards to: its endpoints that are this
stack's own Services become their pods' selectors and target ports (a policy sees the pod's port after the
Service's translation); any other endpoint needs a peer in `cloud.networkPolicy.egress.peers`; the batch and
load-test pods reach the pods of the Service they call, and the load test's workers its master. Nothing else.
"""

from __future__ import annotations

from voxdeploy.contracts.loadtest import LOCUST_MASTER_PORT
from voxdeploy.infra.builders import batch, cloud, edge, hybrid, loadtest, meta, workloads
from voxdeploy.infra.builders.egress import Rule, dns_rule, download_rule, peer_rule
from voxdeploy.infra.builders.workloads import Component, KubeObject
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.network import Peer
from voxdeploy.infra.config.route import RouteTarget


def admitted_namespaces(config: DeploymentConfig, target: RouteTarget) -> list[str]:
    """Namespaces besides the stack's own that may reach a tier: the configured ones, and the route's proxies
    when the route sends its requests to this tier."""
    names = list(config.cloud.network_policy.ingress_namespaces)
    route = config.route
    proxies = route.proxy_namespace()
    if proxies is not None and route.target_of(config.hybrid.enabled) == target and proxies not in names:
        names.append(proxies)
    return names


def own_services(config: DeploymentConfig) -> dict[str, Peer]:
    """URL of each Service of this stack the router may be pointed at (as the router's own endpoints spell them)
    -> the pods behind it, on their port."""
    found: dict[str, Peer] = {}
    if config.cloud.enabled:
        url = hybrid.service_url(config, config.cloud.name, config.cloud.service.port)
        found[url] = Peer(pod_labels=cloud.identity(config).selector, port=config.cloud.server.port)
    if config.edge.enabled:
        for pool in config.edge.pools:
            url = hybrid.service_url(config, edge.pool_name(pool), config.edge.server.port)
            found[url] = Peer(pod_labels=edge.pool_identity(config, pool).selector, port=config.edge.server.port)
    return found


def _known_peers(config: DeploymentConfig) -> dict[str, Peer]:
    return {**own_services(config), **config.cloud.network_policy.egress.peers}


def router_peers(config: DeploymentConfig) -> dict[str, Peer]:
    """Every endpoint the router is configured with -> the peer behind it; an endpoint neither this stack's own
    nor in egress.peers is left out (`validate` refuses such a stack: see unresolved_endpoints)."""
    known = _known_peers(config)
    urls = [url for urls in hybrid.router_settings(config).endpoints.values() for url in urls]
    return {url: known[url] for url in urls if url in known}


def unresolved_endpoints(config: DeploymentConfig) -> list[tuple[str, int, str]]:
    """(tier, index, url) of every hybrid.endpoints URL whose peer the router's policy cannot know."""
    known = _known_peers(config)
    return [
        (tier, index, url)
        for tier, urls in config.hybrid.endpoints.items()
        for index, url in enumerate(urls)
        if url not in known
    ]


def _egress(config: DeploymentConfig, *rules: Rule) -> list[Rule] | None:
    """DNS plus `rules`, each once; None when egress is left open."""
    if not config.cloud.network_policy.egress.enabled:
        return None
    distinct: list[Rule] = []
    for rule in (dns_rule(config), *rules):
        if rule not in distinct:
            distinct.append(rule)
    return distinct


def cloud_policies(config: DeploymentConfig) -> list[KubeObject]:
    """The GPU pods: reached on the runtime's API and metrics ports; out to DNS, the hub while they download the
    model, and the voice store's database where there is one."""
    cloud_tier = config.cloud
    if not cloud_tier.network_policy.enabled:
        return []
    download = [download_rule(config)] if cloud_tier.engine.from_hub else []
    store = config.voices.store
    voice_store = [peer_rule(store.peer)] if store is not None else []
    return [
        workloads.network_policy(
            config,
            cloud.identity(config),
            cloud_tier.server,
            admitted_namespaces(config, "cloud"),
            _egress(config, *download, *voice_store),
        )
    ]


def edge_policies(config: DeploymentConfig) -> list[KubeObject]:
    """One policy for every edge pod (reached on the server port, out to DNS), and one per pool that downloads its
    weights, adding the hub for that pool's pods only."""
    edge_tier = config.edge
    if not edge_tier.enabled or not edge_tier.pools:
        return []
    c = workloads.component(config, edge.SERVICE_ACCOUNT, edge.COMPONENT, None)
    every_pod = Component(
        c.name, c.labels, {"app.kubernetes.io/component": edge.COMPONENT, "app.kubernetes.io/part-of": config.part_of}
    )
    policies = [
        workloads.network_policy(
            config,
            every_pod,
            edge_tier.server,
            list(config.cloud.network_policy.ingress_namespaces),
            _egress(config),
        )
    ]
    if config.cloud.network_policy.egress.enabled:
        policies.extend(
            workloads.egress_policy(config, edge.pool_identity(config, pool), [download_rule(config)])
            for pool in edge_tier.pools
            if pool.weights.source == "download"
        )
    return policies


def router_policy(config: DeploymentConfig) -> KubeObject:
    """The router: reached on its port (by the route's proxies when it is the route's target); out to DNS and to
    each tier endpoint's pods or addresses."""
    return workloads.network_policy(
        config,
        hybrid.identity(config),
        config.hybrid.server,
        admitted_namespaces(config, "router"),
        _egress(config, *(peer_rule(peer) for peer in router_peers(config).values())),
    )


def batch_policy(config: DeploymentConfig) -> KubeObject:
    """The batch pods: reached by nothing; out to DNS and the cloud pods' API port (the Service they call, resolved
    to its pods as the router's endpoints are). The cloud tier's own policy admits them as every pod of the
    namespace."""
    cloud_pods = own_services(config)[batch.cloud_url(config)]
    return workloads.client_policy(config, batch.identity(config), _egress(config, peer_rule(cloud_pods)))


def loadtest_target(config: DeploymentConfig) -> Peer:
    """The pods behind the Service the load test calls, on their API port (a policy sees the pod's port)."""
    if config.loadtest.target == "cloud":
        return own_services(config)[loadtest.target_url(config)]
    return Peer(pod_labels=hybrid.identity(config).selector, port=config.hybrid.server.port)


def loadtest_policies(config: DeploymentConfig) -> list[KubeObject]:
    """The master: reached only by the workers, on Locust's port; out to DNS and the target's pods (its preflight
    asks /health and /ready). The workers: reached by nothing; out to DNS, the target's pods and the master. The
    target's own policy admits both as pods of its namespace."""
    master, worker = loadtest.master_identity(config), loadtest.worker_identity(config)
    target = peer_rule(loadtest_target(config))
    to_master = peer_rule(Peer(pod_labels=master.selector, port=LOCUST_MASTER_PORT))
    egress = _egress(config, target)
    spec: dict[str, object] = {
        "podSelector": {"matchLabels": master.selector},
        "policyTypes": ["Ingress"] if egress is None else ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": worker.selector}}],
                "ports": [{"protocol": "TCP", "port": LOCUST_MASTER_PORT}],
            }
        ],
    }
    if egress is not None:
        spec["egress"] = egress
    master_policy: KubeObject = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta.metadata(config, master.name, master.labels),
        "spec": spec,
    }
    return [master_policy, workloads.client_policy(config, worker, _egress(config, target, to_master))]
