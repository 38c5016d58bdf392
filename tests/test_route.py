"""The route in: an HTTPRoute on the platform's Gateway or an ingress-nginx Ingress, to the router or the cloud
Service, with the limits the pods behind it enforce, and a NetworkPolicy that lets the route's proxies in.

Limits are read back from the settings file the target's pods mount, so the route and the pods cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import jsonschema
import pytest
import yaml

from tests.support.schemas import validate_object
from tests.support.stacks import mutated, read_stack_file
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import ConfigError, DeploymentConfig, config_from_keys, parse_config
from voxdeploy.infra.policy.references import references_resolve

NGINX = "nginx.ingress.kubernetes.io"
GATEWAY = {"name": "public", "namespace": "gateway-infra", "sectionName": "https"}


def config_of(document: dict) -> DeploymentConfig:
    return parse_config(config_from_keys(document["config"]), "test")


def objects_of(document: dict) -> list[dict]:
    return build_objects(config_of(document))


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


def settings_of(objects: list[dict], service: dict) -> dict:
    """The settings file of the pods behind a Service (their ConfigMap is `<name>-runtime`)."""
    return yaml.safe_load(one(objects, "ConfigMap", f"{service['metadata']['name']}-runtime")["data"]["runtime.yaml"])


def nginx_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"([0-9]+)([km]?)", size).groups()
    return int(number) * {"": 1, "k": 2**10, "m": 2**20}[unit]


def admitted(policy: dict) -> set[str]:
    return {
        source["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in policy["spec"]["ingress"]
        for source in rule["from"]
        if "namespaceSelector" in source
    }


def test_the_hybrid_stack_routes_the_api_to_the_router_through_the_gateway() -> None:
    config = config_of(read_stack_file("hybrid"))
    objects = build_objects(config)
    route = one(objects, "HTTPRoute")
    assert route["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", **GATEWAY}]
    assert route["spec"]["hostnames"] == ["tts.hybrid.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1"}}], "/metrics and /ready stay inside"
    (ref,) = rule["backendRefs"]
    service = one(objects, "Service", ref["name"])
    assert service["metadata"]["name"] == config.hybrid.name
    assert ref["port"] in {p["port"] for p in service["spec"]["ports"]}
    timeout = int(rule["timeouts"]["request"].removesuffix("s"))
    runtime_timeout = settings_of(objects, service)["server"]["requestTimeoutSeconds"]
    assert runtime_timeout < timeout <= runtime_timeout + 10, "the router's own 504 comes first, not much before"


def test_the_hybrid_stack_issues_its_certificate_and_lets_only_the_gateway_read_it() -> None:
    objects = objects_of(read_stack_file("hybrid"))
    certificate, grant = one(objects, "Certificate"), one(objects, "ReferenceGrant")
    assert certificate["spec"]["secretName"] == "voxcpm-router-tls"
    assert certificate["spec"]["dnsNames"] == one(objects, "HTTPRoute")["spec"]["hostnames"]
    assert certificate["spec"]["issuerRef"] == {
        "group": "cert-manager.io",
        "kind": "ClusterIssuer",
        "name": "letsencrypt-prod",
    }
    assert grant["metadata"]["namespace"] == "voxcpm-hybrid", "a grant lives beside what it shares"
    assert grant["spec"] == {
        "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "gateway-infra"}],
        "to": [{"group": "", "kind": "Secret", "name": "voxcpm-router-tls"}],
    }
    assert {o["metadata"]["namespace"] for o in objects if "namespace" in o["metadata"]} == {"voxcpm-hybrid"}


def test_only_the_routes_target_admits_the_gateways_proxies() -> None:
    objects = objects_of(read_stack_file("hybrid"))
    assert "gateway-infra" in admitted(one(objects, "NetworkPolicy", "voxcpm-router"))
    assert "gateway-infra" not in admitted(one(objects, "NetworkPolicy", "voxcpm"))
    assert "gateway-infra" not in admitted(one(objects, "NetworkPolicy", "voxcpm-edge"))


def test_envoy_gateway_proxies_run_in_their_own_namespace() -> None:
    gateway = {**GATEWAY, "proxyNamespace": "envoy-gateway-system"}
    objects = objects_of(mutated("hybrid", "route.gateway", gateway))
    assert admitted(one(objects, "NetworkPolicy", "voxcpm-router")) == {"monitoring", "envoy-gateway-system"}


def test_prod_routes_the_cloud_service_through_ingress_nginx_with_the_runtimes_limits() -> None:
    objects = objects_of(read_stack_file("prod"))
    ingress = one(objects, "Ingress")
    spec, annotations = ingress["spec"], ingress["metadata"]["annotations"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["tts.example.com"], "secretName": "voxcpm-tls"}]
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    (rule,) = spec["rules"]
    (path,) = rule["http"]["paths"]
    assert (rule["host"], path["path"], path["pathType"]) == ("tts.example.com", "/v1", "Prefix")
    service = one(objects, "Service", path["backend"]["service"]["name"])
    assert path["backend"]["service"]["port"]["number"] in {p["port"] for p in service["spec"]["ports"]}
    settings = settings_of(objects, service)
    assert nginx_bytes(annotations[f"{NGINX}/proxy-body-size"]) == settings["speech"]["maxBodyBytes"]
    for key in ("proxy-read-timeout", "proxy-send-timeout"):
        assert settings["server"]["requestTimeoutSeconds"] < int(annotations[f"{NGINX}/{key}"])
    assert "ingress-nginx" in admitted(one(objects, "NetworkPolicy", "voxcpm"))


def test_an_ingress_follows_the_routers_own_limits() -> None:
    document = mutated("hybrid", "route", {"kind": "ingress", "hostnames": ["tts.example.com"]})
    document["config"]["voxdeploy:hybrid"]["speech"] = {"maxBodyBytes": 3 * 2**20 + 2048}
    document["config"]["voxdeploy:hybrid"]["server"] = {"requestTimeoutSeconds": 400.5}
    objects = objects_of(document)
    annotations = one(objects, "Ingress")["metadata"]["annotations"]
    assert annotations[f"{NGINX}/proxy-body-size"] == "3074k"
    assert annotations[f"{NGINX}/proxy-read-timeout"] == "406"
    assert "tls" not in one(objects, "Ingress")["spec"]
    assert "ingress-nginx" in admitted(one(objects, "NetworkPolicy", "voxcpm-router"))


def test_a_namespaced_issuer_gets_its_own_annotation() -> None:
    tls = {"secretName": "voxcpm-tls", "certManager": {"issuerName": "internal-ca", "issuerKind": "Issuer"}}
    objects = objects_of(mutated("prod", "route.tls", tls))
    annotations = one(objects, "Ingress")["metadata"]["annotations"]
    assert (
        annotations["cert-manager.io/issuer"] == "internal-ca" and "cert-manager.io/cluster-issuer" not in annotations
    )
    assert not [o for o in objects if o["kind"] == "Certificate"], "ingress-shim issues it from the annotation"


def test_a_route_to_the_cloud_service_of_the_hybrid_stack() -> None:
    objects = objects_of(mutated("hybrid", "route.target", "cloud"))
    (ref,) = one(objects, "HTTPRoute")["spec"]["rules"][0]["backendRefs"]
    assert ref["name"] == "voxcpm"
    assert "gateway-infra" in admitted(one(objects, "NetworkPolicy", "voxcpm"))
    assert "gateway-infra" not in admitted(one(objects, "NetworkPolicy", "voxcpm-router"))


def test_no_route_by_default() -> None:
    objects = objects_of(read_stack_file("staging"))
    assert not {"HTTPRoute", "Ingress", "Certificate", "ReferenceGrant"} & {o["kind"] for o in objects}


@pytest.mark.parametrize(
    ("path", "value", "where", "words"),
    [
        ("route", {"kind": "httpRoute"}, "route", "needs gateway"),
        ("route", {"kind": "ingress", "gateway": GATEWAY}, "route", "httpRoute only"),
        ("route", {"kind": "ingress", "tls": {"secretName": "x"}}, "route", "tls needs hostnames"),
        ("route", {"kind": "ingress", "target": "router"}, "route.target", "router is not deployed"),
        ("route", {"kind": "ingress", "hostnames": ["TTS.example.com"]}, "route.hostnames", "pattern"),
    ],
    ids=["gateway-missing", "gateway-for-ingress", "tls-without-hosts", "router-not-deployed", "bad-hostname"],
)
def test_bad_routes_are_named(path: str, value: dict, where: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_of(mutated("prod", path, value))
    found = [(issue.path, issue.message) for issue in caught.value.issues]
    assert any(at.startswith(where) and words in message for at, message in found), found


def broken(kind: str, mutate: Callable[[dict], object]) -> dict:
    obj = one(objects_of(read_stack_file("hybrid")), kind)
    validate_object(obj)
    mutate(obj)
    return obj


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("HTTPRoute", lambda r: r["spec"]["rules"][0]["timeouts"].update(request="365")),
        ("HTTPRoute", lambda r: r["spec"]["parentRefs"][0].pop("name")),
        ("HTTPRoute", lambda r: r["spec"]["rules"][0].update(timeout="365s")),
        ("ReferenceGrant", lambda g: g["spec"].pop("to")),
        ("Certificate", lambda c: c["spec"].pop("issuerRef")),
    ],
    ids=["duration-without-unit", "parent-without-name", "unknown-field", "grant-without-to", "no-issuer"],
)
def test_the_crd_schemas_refuse_a_broken_route(kind: str, mutate: Callable[[dict], object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validate_object(broken(kind, mutate))


def test_a_route_to_nothing_is_a_policy_finding() -> None:
    config = config_of(read_stack_file("hybrid"))
    objects = [o for o in build_objects(config) if o["kind"] != "Certificate"]
    route = one(objects, "HTTPRoute")
    route["spec"]["rules"][0]["backendRefs"][0]["port"] = 9999
    messages = [finding.message for finding in references_resolve(config, objects)]
    assert "backend port 9999 is no port of Service voxcpm-router" in messages
    assert any("TLS Secret voxcpm-router-tls" in message for message in messages), messages
