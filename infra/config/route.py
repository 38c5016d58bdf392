"""A route in from outside the cluster: a Gateway API HTTPRoute on the platform's Gateway, or a classic Ingress.

The Gateway is the platform team's, not the stack's: the stack renders only the route that attaches to one of
its listeners (and, when the listener serves the stack's own certificate, that certificate and the grant that
lets the Gateway read it). The route's proxies are admitted by the target's NetworkPolicy.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from voxdeploy.contracts.base import StrictModel
from voxdeploy.infra.config.base import DnsLabel, DnsSubdomain

HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""A host name, optionally a wildcard (`*.example.com`): the pattern of Gateway API's Hostname, which Ingress
hosts and cert-manager dnsNames accept too."""
Hostname = Annotated[str, Field(pattern=HOSTNAME, max_length=253)]

RouteKind = Literal["httpRoute", "ingress", "none"]
RouteTarget = Literal["router", "cloud"]


class GatewayRef(StrictModel):
    """The platform's Gateway the HTTPRoute attaches to; its listener must allow routes from this namespace
    (`allowedRoutes.namespaces`)."""

    name: DnsSubdomain = Field(..., description="Name of the Gateway.")
    namespace: DnsLabel = Field(..., description="Namespace of the Gateway.")
    section_name: DnsSubdomain | None = Field(
        None, description="The listener to attach to (e.g. its HTTPS one); unset, every listener that allows it."
    )
    proxy_namespace: DnsLabel | None = Field(
        None,
        description="Namespace of the pods that forward the Gateway's traffic, which the target's NetworkPolicy "
        "admits; unset, the Gateway's (Istio, kgateway). Envoy Gateway runs them in its own namespace "
        "(envoy-gateway-system).",
    )


class IngressSettings(StrictModel):
    """The Ingress controller (ingress-nginx: the annotations are its own)."""

    class_name: DnsSubdomain = Field("nginx", description="ingressClassName.")
    controller_namespace: DnsLabel = Field(
        "ingress-nginx", description="Namespace of the controller's pods, which the target's NetworkPolicy admits."
    )


class CertManagerIssuer(StrictModel):
    """The cert-manager issuer that signs the route's certificate."""

    issuer_name: DnsSubdomain = Field(..., description="Name of the Issuer or ClusterIssuer.")
    issuer_kind: Literal["ClusterIssuer", "Issuer"] = Field(
        "ClusterIssuer", description="ClusterIssuer, or an Issuer in the stack's namespace."
    )


class RouteTls(StrictModel):
    """The certificate of the route's hostnames, in a Secret of the stack's namespace.

    Ingress: the Ingress's tls names the Secret; with certManager, cert-manager's ingress-shim issues into it
    (annotation). httpRoute: the platform's listener presents it (its certificateRefs name this Secret in this
    namespace); the stack renders a ReferenceGrant that lets Gateways in the Gateway's namespace read it and, with
    certManager, the Certificate that issues it. Leave tls out where the listener holds a certificate of its own
    (a wildcard in the Gateway's namespace).
    """

    secret_name: DnsSubdomain = Field(..., description="The TLS Secret (type kubernetes.io/tls).")
    cert_manager: CertManagerIssuer | None = Field(
        None, description="Have cert-manager issue it; unset, the Secret exists already (created by the operator)."
    )


class RouteConfig(StrictModel):
    """How clients outside the cluster reach the speech API: only its /v1 paths (/metrics, /health and /ready stay
    inside), with the target's request timeout and body limit."""

    kind: RouteKind = Field("none", description="httpRoute (Gateway API v1), ingress (networking.k8s.io/v1) or none.")
    target: RouteTarget | None = Field(
        None, description="The Service routed to: router, or cloud; unset, the router when hybrid is enabled."
    )
    hostnames: list[Hostname] = Field([], max_length=16, description="Host names the route serves.")
    gateway: GatewayRef | None = Field(None, description="httpRoute: the Gateway (and listener) to attach to.")
    ingress: IngressSettings = Field(IngressSettings(), description="ingress: the controller.")
    tls: RouteTls | None = Field(None, description="The route's certificate.")

    @model_validator(mode="after")
    def _complete(self) -> RouteConfig:
        if self.kind == "httpRoute" and self.gateway is None:
            raise ValueError("httpRoute needs gateway (name, namespace, sectionName): the platform's Gateway")
        if self.kind != "httpRoute" and self.gateway is not None:
            raise ValueError("gateway applies to kind httpRoute only")
        if self.tls is not None and not self.hostnames:
            raise ValueError("tls needs hostnames: a certificate (and an Ingress's tls) is for named hosts")
        return self

    def target_of(self, hybrid_enabled: bool) -> RouteTarget:
        """The Service routed to: the stack's, else the router when the stack deploys one (it is the entry point
        that picks a tier), else the cloud tier."""
        if self.target is not None:
            return self.target
        return "router" if hybrid_enabled else "cloud"

    def proxy_namespace(self) -> str | None:
        """Namespace of the pods that forward the route's requests to the target; None without a route."""
        if self.kind == "ingress":
            return self.ingress.controller_namespace
        if self.gateway is not None:
            return self.gateway.proxy_namespace or self.gateway.namespace
        return None
