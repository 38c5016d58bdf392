"""The route in: a Gateway API HTTPRoute on the platform's Gateway, or an Ingress for ingress-nginx.

Either sends the public API's paths (`/v1`) to the target's Service, with the target's own limits: the proxy's
timeout outlasts the target's request timeout by a margin, so a slow request gets the runtime's JSON 504 rather
than the proxy's page; the Ingress's body limit is the target's, so an oversized upload is refused at the edge.
Gateway API has no standard body-size field (it is implementation policy, e.g. Envoy Gateway's
ClientTrafficPolicy); behind an HTTPRoute the target's own 413 applies.

TLS with an HTTPRoute is the Gateway listener's: where the listener presents the stack's certificate, the stack
renders the ReferenceGrant that lets the Gateway read that Secret across namespaces and, with cert-manager, the
Certificate that issues it, both in the stack's namespace. The Gateway itself, in the platform's namespace, is
never the stack's to render.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from voxdeploy.contracts.api import API_PREFIX
from voxdeploy.infra.builders import cloud, hybrid, meta
from voxdeploy.infra.builders.workloads import Component, KubeObject
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.config.route import GatewayRef, RouteTls

GATEWAY_GROUP = "gateway.networking.k8s.io"
HTTP_ROUTE_API = "gateway.networking.k8s.io/v1"
REFERENCE_GRANT_API = "gateway.networking.k8s.io/v1beta1"
"""ReferenceGrant's v1beta1 is served by every Gateway API release since v0.6.0; its v1 only since v1.5.0."""
CERT_MANAGER_GROUP = "cert-manager.io"
CERTIFICATE_API = "cert-manager.io/v1"
NGINX = "nginx.ingress.kubernetes.io"
TIMEOUT_MARGIN_SECONDS = 5
"""How much longer the proxy waits than the target's request timeout: the target answers first, with its own
504 and a JSON error naming the limit."""


@dataclass(frozen=True)
class Backend:
    """The Service a route sends to, and the limits of the pods behind it (from the settings those pods read)."""

    component: Component
    port: int
    request_timeout_seconds: float
    max_body_bytes: int


def backend(config: DeploymentConfig) -> Backend:
    """The route's target: the router or the cloud tier, with the timeout and body limit its pods enforce."""
    if config.route.target_of(config.hybrid.enabled) == "router":
        router = hybrid.router_settings(config)
        return Backend(
            hybrid.identity(config),
            config.hybrid.server.port,
            router.server.request_timeout_seconds,
            router.speech.max_body_bytes,
        )
    runtime = cloud.runtime_settings(config)
    return Backend(
        cloud.identity(config),
        config.cloud.service.port,
        runtime.server.request_timeout_seconds,
        runtime.speech.max_body_bytes,
    )


def proxy_timeout_seconds(target: Backend) -> int:
    """The proxy's whole-request timeout: the target's, rounded up, plus the margin."""
    return math.ceil(target.request_timeout_seconds) + TIMEOUT_MARGIN_SECONDS


def nginx_size(size: int) -> str:
    """A byte count as nginx writes sizes (`16m`: k and m are 1024 and 1024**2), exact."""
    for suffix, factor in (("m", 2**20), ("k", 2**10)):
        if size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)


def _metadata(config: DeploymentConfig, target: Backend) -> dict[str, object]:
    return meta.metadata(config, target.component.name, target.component.labels)


def http_route(config: DeploymentConfig, gateway: GatewayRef, target: Backend) -> KubeObject:
    """The HTTPRoute attached to the platform's Gateway (one listener when sectionName is given)."""
    parent: dict[str, object] = {
        "group": GATEWAY_GROUP,
        "kind": "Gateway",
        "namespace": gateway.namespace,
        "name": gateway.name,
    }
    if gateway.section_name is not None:
        parent["sectionName"] = gateway.section_name
    spec: dict[str, object] = {"parentRefs": [parent]}
    if config.route.hostnames:
        spec["hostnames"] = list(config.route.hostnames)
    spec["rules"] = [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": API_PREFIX}}],
            "backendRefs": [{"group": "", "kind": "Service", "name": target.component.name, "port": target.port}],
            "timeouts": {"request": f"{proxy_timeout_seconds(target)}s"},
        }
    ]
    return {"apiVersion": HTTP_ROUTE_API, "kind": "HTTPRoute", "metadata": _metadata(config, target), "spec": spec}


def certificate(config: DeploymentConfig, tls: RouteTls, target: Backend) -> list[KubeObject]:
    """cert-manager's Certificate for the route's hostnames, issued into the TLS Secret (httpRoute only: for an
    Ingress, cert-manager's ingress-shim makes it from the Ingress's annotation)."""
    if tls.cert_manager is None:
        return []
    issuer = tls.cert_manager
    spec = {
        "secretName": tls.secret_name,
        "dnsNames": list(config.route.hostnames),
        "issuerRef": {"group": CERT_MANAGER_GROUP, "kind": issuer.issuer_kind, "name": issuer.issuer_name},
    }
    return [{"apiVersion": CERTIFICATE_API, "kind": "Certificate", "metadata": _metadata(config, target), "spec": spec}]


def reference_grant(config: DeploymentConfig, gateway: GatewayRef, tls: RouteTls, target: Backend) -> KubeObject:
    """Lets Gateways in the Gateway's namespace read the TLS Secret, and no other object of this namespace."""
    spec = {
        "from": [{"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": gateway.namespace}],
        "to": [{"group": "", "kind": "Secret", "name": tls.secret_name}],
    }
    return {
        "apiVersion": REFERENCE_GRANT_API,
        "kind": "ReferenceGrant",
        "metadata": _metadata(config, target),
        "spec": spec,
    }


def ingress(config: DeploymentConfig, target: Backend) -> KubeObject:
    """An Ingress for ingress-nginx with the target's body limit and timeouts; cert-manager's annotation when it
    issues the certificate."""
    route = config.route
    timeout = str(proxy_timeout_seconds(target))
    annotations = {
        f"{NGINX}/proxy-body-size": nginx_size(target.max_body_bytes),
        f"{NGINX}/proxy-read-timeout": timeout,
        f"{NGINX}/proxy-send-timeout": timeout,
    }
    if route.tls is not None and route.tls.cert_manager is not None:
        issuer = route.tls.cert_manager
        key = "cluster-issuer" if issuer.issuer_kind == "ClusterIssuer" else "issuer"
        annotations[f"{CERT_MANAGER_GROUP}/{key}"] = issuer.issuer_name
    paths = [
        {
            "path": API_PREFIX,
            "pathType": "Prefix",
            "backend": {"service": {"name": target.component.name, "port": {"number": target.port}}},
        }
    ]
    rules: list[dict[str, object]] = [{"host": host, "http": {"paths": paths}} for host in route.hostnames]
    spec: dict[str, object] = {"ingressClassName": route.ingress.class_name}
    if route.tls is not None:
        spec["tls"] = [{"hosts": list(route.hostnames), "secretName": route.tls.secret_name}]
    spec["rules"] = rules or [{"http": {"paths": paths}}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {**_metadata(config, target), "annotations": annotations},
        "spec": spec,
    }


def route_objects(config: DeploymentConfig) -> list[KubeObject]:
    """The route of `route.kind`, with what its TLS needs from this namespace; nothing for kind none."""
    route = config.route
    if route.kind == "none":
        return []
    target = backend(config)
    if route.kind == "ingress":
        return [ingress(config, target)]
    assert route.gateway is not None  # RouteConfig requires it for httpRoute
    objects = [http_route(config, route.gateway, target)]
    if route.tls is not None:
        objects += [*certificate(config, route.tls, target), reference_grant(config, route.gateway, route.tls, target)]
    return objects
