"""Cross-field rules of the route in and the NetworkPolicies' peers (listed in checks.CHECKS)."""

from __future__ import annotations

from collections.abc import Iterator

from voxdeploy.infra.config.base import label_key_problem, label_value_problem
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.errors import ConfigIssue

PEERS = "cloud.networkPolicy.egress.peers"


def route_has_a_target(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """A route to a tier the stack does not deploy would send every request to a Service that does not exist."""
    route = config.route
    if route.kind == "none":
        return
    target = route.target_of(config.hybrid.enabled)
    if target == "router" and not config.hybrid.enabled:
        yield ConfigIssue("route.target", target, "the router is not deployed: enable hybrid, or route to cloud")
    if target == "cloud" and not config.cloud.enabled:
        yield ConfigIssue("route.target", target, "the cloud tier is not deployed: enable cloud, or route to router")


def router_endpoints_have_peers(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """With egress denied by default, the router reaches only the endpoints its policy names: each one must be a
    Service of this stack or have a peer, and each peer must be an endpoint (a stale one opens a hole)."""
    # Deferred: which URLs are the stack's own Services is the builders' naming, and builders import this package.
    from voxdeploy.infra.builders.network import unresolved_endpoints

    egress = config.cloud.network_policy.egress
    if not egress.enabled:
        return
    if config.hybrid.enabled:
        for tier, index, url in unresolved_endpoints(config):
            yield ConfigIssue(
                f"hybrid.endpoints.{tier}[{index}]",
                url,
                f"not a Service of this stack, so the router's NetworkPolicy cannot know its pods: add {PEERS} "
                f"with this URL as key and the pods (namespace, podLabels, port) or addresses (ipBlocks, port)",
            )
    endpoints = {url for urls in config.hybrid.endpoints.values() for url in urls} if config.hybrid.enabled else set()
    for url in egress.peers:
        if url not in endpoints:
            yield ConfigIssue(f"{PEERS}.{url}", url, "no hybrid.endpoints URL is this; remove it or fix the URL")


def peer_labels_are_valid(config: DeploymentConfig) -> Iterator[ConfigIssue]:
    """A podSelector with a malformed label makes the API server refuse the whole policy."""
    egress = config.cloud.network_policy.egress
    selectors = [("cloud.networkPolicy.egress.dns", egress.dns)]
    selectors += [(f"{PEERS}.{url}", peer) for url, peer in egress.peers.items()]
    for at, peer in selectors:
        for key, value in peer.pod_labels.items():
            problem = label_key_problem(key) or label_value_problem(value)
            if problem is not None:
                yield ConfigIssue(f"{at}.podLabels.{key}", value, f"not a valid label: {problem}")


NETWORK_CHECKS = (route_has_a_target, router_endpoints_have_peers, peer_labels_are_valid)
