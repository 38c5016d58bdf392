"""Egress rules as NetworkPolicy writes them, from the stack's egress config (no tier's objects needed, so the
tiers' builders can use the download's environment without importing the policies built on them).

Every rule names its peers and ports: none has an empty `to` (which would allow every destination).
"""

from __future__ import annotations

from voxdeploy.infra.builders.meta import namespace_selector
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.network import IpBlock, Peer

HTTPS_PORT = 443
"""The hub's port (huggingface.co and its CDN serve HTTPS only)."""
DNS_PROTOCOLS = ("UDP", "TCP")
"""DNS answers over UDP, and over TCP when an answer does not fit a datagram."""

Rule = dict[str, object]


def _ip_blocks(blocks: list[IpBlock]) -> list[dict[str, object]]:
    return [{"ipBlock": block.model_dump(exclude_defaults=True)} for block in blocks]


def peer_rule(peer: Peer, protocols: tuple[str, ...] = ("TCP",)) -> Rule:
    """One egress rule: to the peer's pods (its namespace, else the policy's own) or addresses, on its port."""
    if peer.ip_blocks:
        to = _ip_blocks(peer.ip_blocks)
    else:
        selector: dict[str, object] = {"podSelector": {"matchLabels": dict(peer.pod_labels)}}
        if peer.namespace is not None:
            selector["namespaceSelector"] = namespace_selector(peer.namespace)
        to = [selector]
    return {"to": to, "ports": [{"protocol": protocol, "port": peer.port} for protocol in protocols]}


def dns_rule(config: DeploymentConfig) -> Rule:
    return peer_rule(config.cloud.network_policy.egress.dns, DNS_PROTOCOLS)


def download_rule(config: DeploymentConfig) -> Rule:
    """The weights download: to the proxy when one is configured, else to the public internet on 443."""
    egress = config.cloud.network_policy.egress
    if egress.proxy is not None:
        return peer_rule(Peer(ip_blocks=list(egress.proxy.ip_blocks), port=egress.proxy.port))
    return peer_rule(Peer(ip_blocks=list(egress.hub), port=HTTPS_PORT))


def download_env(config: DeploymentConfig) -> list[dict[str, object]]:
    """HTTPS_PROXY for the download containers when a proxy is configured (huggingface_hub honours it)."""
    proxy = config.cloud.network_policy.egress.proxy
    return [] if proxy is None else [{"name": "HTTPS_PROXY", "value": proxy.url}]
