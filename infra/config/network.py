"""Where pods may open connections to: the egress half of the stack's NetworkPolicies.

Every pod's policy denies egress by default and allows only what the pod talks to: cluster DNS; the weights
download where the pod downloads (the Hugging Face hub over HTTPS, or a configured proxy); and, for the router,
the tiers it forwards to. The hub sits behind CDNs whose addresses no stack can list, so the download is allowed
to any public address on 443; the proxy narrows it to one set of addresses.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from voxdeploy.contracts.base import StrictModel
from voxdeploy.infra.config.base import DnsLabel

PRIVATE_RANGES: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
)
"""IPv4 ranges the public-internet allowance leaves out: RFC 1918 and shared address space (where clusters put
pod and Service networks) and link-local (the clouds' instance metadata service at 169.254.169.254, which hands
out node credentials)."""


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        raise ValueError(f"not a CIDR block with its host bits zero (e.g. 203.0.113.0/24): {err}") from None
    return value


class IpBlock(StrictModel):
    """Addresses, as a NetworkPolicy ipBlock: a CIDR block less the blocks in `except`."""

    cidr: str = Field(..., description="CIDR block, e.g. 203.0.113.0/24.")
    except_: list[str] = Field([], alias="except", description="Blocks inside `cidr` that stay denied.")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return _network(value)

    @field_validator("except_")
    @classmethod
    def _excepted(cls, values: list[str]) -> list[str]:
        return [_network(value) for value in values]

    @model_validator(mode="after")
    def _except_within(self) -> IpBlock:
        outer = ipaddress.ip_network(self.cidr)
        for value in self.except_:
            inner = ipaddress.ip_network(value)
            if inner.version != outer.version or not inner.subnet_of(outer):  # type: ignore[arg-type]
                raise ValueError(f"except {value} is not inside cidr {self.cidr} (Kubernetes refuses the policy)")
        return self


class Peer(StrictModel):
    """Something a pod connects to on one TCP port: pods (by namespace and labels) or addresses (CIDR blocks)."""

    namespace: DnsLabel | None = Field(None, description="Pods: their namespace; unset, the stack's own namespace.")
    pod_labels: dict[str, str] = Field({}, description="Pods: the labels that select them.")
    ip_blocks: list[IpBlock] = Field([], description="Addresses outside the cluster (instead of pods).")
    port: int = Field(..., ge=1, le=65535, description="TCP port on the pods (a Service's targetPort, not its port).")

    @model_validator(mode="after")
    def _pods_or_addresses(self) -> Peer:
        if bool(self.pod_labels) == bool(self.ip_blocks):
            raise ValueError("give either podLabels (pods, optionally with namespace) or ipBlocks (addresses)")
        if self.ip_blocks and self.namespace is not None:
            raise ValueError("namespace selects pods; addresses (ipBlocks) have none")
        return self


class EgressProxy(StrictModel):
    """An HTTP(S) proxy the weight downloads go through instead of reaching the hub directly."""

    url: str = Field(..., description="Proxy URL with its port, e.g. http://proxy.corp.example:3128 (HTTPS_PROXY).")
    ip_blocks: list[IpBlock] = Field(..., min_length=1, description="The proxy's addresses.")

    @field_validator("url")
    @classmethod
    def _has_port(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL naming the proxy's host, e.g. http://proxy.corp.example:3128")
        try:
            port = parts.port
        except ValueError as err:
            raise ValueError(f"bad port: {err}") from None
        if port is None:
            raise ValueError("name the port (http://host:3128): the NetworkPolicy allows that port only")
        return value

    @property
    def port(self) -> int:
        port = urlsplit(self.url).port
        assert port is not None  # checked by _has_port
        return port


class EgressPolicy(StrictModel):
    """Default-deny egress with an allow-list per pod. A download runs in an init container of the serving pod, and
    NetworkPolicy selects pods, not containers: a pod that downloads keeps the download's allowance while it
    serves (its serving container runs with HF_HUB_OFFLINE=1 and calls nothing)."""

    enabled: bool = Field(True, description="Deny egress by default and allow only the peers below.")
    dns: Peer = Field(
        Peer(namespace="kube-system", pod_labels={"k8s-app": "kube-dns"}, port=53),
        description="Cluster DNS (UDP and TCP on its port): CoreDNS's pods by their conventional label.",
    )
    hub: list[IpBlock] = Field(
        [IpBlock(cidr="0.0.0.0/0", except_=list(PRIVATE_RANGES))],
        description="Where weight downloads may go on 443 without a proxy: the public internet (the hub's CDN "
        "addresses are not listable), not the cluster's or the metadata service's. Add ::/0 on IPv6 clusters.",
    )
    proxy: EgressProxy | None = Field(
        None, description="Send downloads through this proxy (HTTPS_PROXY) and allow only it instead of the hub."
    )
    peers: dict[str, Peer] = Field(
        {},
        description="hybrid.endpoints URLs that are not this stack's own Services -> the pods or addresses behind "
        "them, so the router's policy can allow exactly those.",
    )
