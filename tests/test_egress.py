"""Every pod may connect to exactly what it talks to, and nothing else.

For each bundled stack (and variants: a proxy, a pool that downloads, an outside endpoint by address, weights in
the image, a batch Job, a load test of the router), the test reads every rendered NetworkPolicy, collects the egress
each pod is allowed (the union of the policies selecting it), and compares it with what the pod talks to, worked out
from the pod itself: cluster DNS; the hub (or the proxy) when an init container runs `hf download`; for the router,
the endpoints in the settings file it reads; for the batch runner and the load-test master, its --host; for a Locust
worker, its master and that master's --host; each resolved through the rendered Service its URL names to that
Service's selector and its pods' port (or, outside the stack, to the peer the stack gives).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.stacks import STACKS, mutated, read_stack_file, staging_canary
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.builders.workloads import RUNTIME_CONFIG_FILE
from voxdeploy.infra.config import ConfigError, DeploymentConfig, config_from_keys, parse_config
from voxdeploy.infra.policy.pods import pod_templates

Allowed = tuple[str, str, frozenset[tuple[str, Any]], str, int]
"""(peer kind "pods"|"addresses", namespace | cidr, labels | except blocks, protocol, port)."""

FOG = "http://fog-tts.voxcpm-hybrid.svc.cluster.local:8000"
OUTSIDE = "https://tts.partner.example:8443"
PROXY = {"url": "http://proxy.corp.example:3128", "ipBlocks": [{"cidr": "10.20.0.8/32"}]}


def with_keys(document: dict, *changes: tuple[str, object]) -> dict:
    keys = document["config"]
    for path, value in changes:
        top, *rest = path.split(".")
        node = keys.setdefault(f"voxdeploy:{top}", {})
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        node[rest[-1]] = value
    return document


def downloading_pool() -> dict:
    document = read_stack_file("edge")
    pool = document["config"]["voxdeploy:edge"]["pools"][0]
    pool["weights"] = {"source": "download", "repository": "voxdeploy/voxcpm2-gguf", "revision": "a" * 40}
    return document


def outside_endpoint() -> dict:
    document = read_stack_file("hybrid")
    document["config"]["voxdeploy:hybrid"]["endpoints"]["fog"].append(OUTSIDE)
    peers = document["config"]["voxdeploy:cloud"]["networkPolicy"]["egress"]["peers"]
    peers[OUTSIDE] = {"ipBlocks": [{"cidr": "203.0.113.0/24"}], "port": 8443}
    return document


VOICE_STORE = {
    "host": "postgres.db.svc",
    "database": "voxdeploy",
    "user": "voxdeploy",
    "passwordSecret": {"name": "voice-db", "key": "password"},
    "peer": {"namespace": "db", "podLabels": {"app.kubernetes.io/name": "postgresql"}, "port": 5432},
}

VARIANTS: dict[str, Any] = {
    **{stack: lambda stack=stack: read_stack_file(stack) for stack in STACKS},
    "hybrid-proxy": lambda: with_keys(read_stack_file("hybrid"), ("cloud.networkPolicy.egress.proxy", PROXY)),
    "edge-download-proxy": lambda: with_keys(downloading_pool(), ("cloud.networkPolicy.egress.proxy", PROXY)),
    "edge-download": downloading_pool,
    "hybrid-outside-endpoint": outside_endpoint,
    "prod-voice-store": lambda: with_keys(read_stack_file("prod"), ("voices.store", VOICE_STORE)),
    "staging-batch": lambda: with_keys(
        read_stack_file("staging"),
        ("batch.enabled", True),
        ("batch.volumeClaim", "batch-data"),
        ("batch.apiKeySecret", {"name": "voxcpm-api-keys", "key": "batch"}),
    ),
    "hybrid-loadtest-router": lambda: with_keys(
        read_stack_file("hybrid"),
        ("loadtest.enabled", True),
        ("loadtest.target", "router"),
        ("loadtest.apiKeySecret", {"name": "voxcpm-api-keys", "key": "loadtest"}),
    ),
    "staging-canary": staging_canary,
    "staging-image-weights": lambda: with_keys(
        read_stack_file("staging"),
        ("cloud.engine.model", "/models/VoxCPM2"),
        ("cloud.pod.modelCache.mode", "image"),
    ),
}
"""Stack documents whose pods talk to different things."""


def config_of(document: dict) -> DeploymentConfig:
    return parse_config(config_from_keys(document["config"]), "test")


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels is read here: {selector}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def pods(objects: list[dict]) -> Iterator[dict]:
    """The pod templates, with their namespace, as the objects that make them carry them."""
    for template in pod_templates(objects):  # Deployments, DaemonSets, Jobs, Rollouts, analysis Jobs
        yield {
            "namespace": template.namespace,
            "owner": template.owner,
            "metadata": {"labels": dict(template.labels)},
            "spec": template.spec,
        }


def allowed_egress(pod: dict, policies: list[dict]) -> set[Allowed]:
    """The union of what every policy selecting the pod allows it to reach; asserts egress is denied by default
    (some policy names Egress) and that no rule or peer is empty (which would allow everything)."""
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == pod["namespace"]
        and selects(p["spec"]["podSelector"], pod["metadata"]["labels"])
    ]
    confining = [p for p in selecting if "Egress" in p["spec"]["policyTypes"]]
    assert confining, f"{pod['owner']['metadata']['name']}: no policy denies its egress by default"
    allowed: set[Allowed] = set()
    for policy in confining:
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), f"{policy['metadata']['name']}: a rule without `to` allows every destination"
            assert rule.get("ports"), f"{policy['metadata']['name']}: a rule without `ports` allows every port"
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    assert set(peer) == {"ipBlock"}
                    block = peer["ipBlock"]
                    target = ("addresses", block["cidr"], frozenset((cidr, None) for cidr in block.get("except", [])))
                else:
                    assert set(peer) <= {"podSelector", "namespaceSelector"} and peer["podSelector"].get("matchLabels")
                    namespace = policy["metadata"]["namespace"]
                    if "namespaceSelector" in peer:
                        namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    target = ("pods", namespace, frozenset(peer["podSelector"]["matchLabels"].items()))
                allowed |= {(*target, port["protocol"], port["port"]) for port in rule["ports"]}
    return allowed


def downloads(pod: dict) -> list[dict]:
    """The pod's init containers that fetch weights from the hub (huggingface_hub's CLI)."""
    return [
        c
        for c in pod["spec"].get("initContainers", [])
        if "hf" in c["command"] and c["command"][c["command"].index("hf") + 1] == "download"
    ]


def voice_store(pod: dict, objects: list[dict]) -> str | None:
    """The database URL in the settings ConfigMap the pod mounts (the runtime connects to it), if any."""
    names = [v["configMap"]["name"] for v in pod["spec"]["volumes"] if "configMap" in v]
    for obj in objects:
        if obj["kind"] == "ConfigMap" and obj["metadata"]["name"] in names and RUNTIME_CONFIG_FILE in obj["data"]:
            settings = yaml.safe_load(obj["data"][RUNTIME_CONFIG_FILE])
            if "voices" in settings:
                return settings["voices"]["store"]
    return None


def endpoints(pod: dict, objects: list[dict]) -> list[str]:
    """The URLs a client pod will connect to: the batch runner's and the load-test master's --host; a Locust worker's
    master (its --master-host, a Service of the pod's namespace) and the --host that master hands it; or the endpoints
    in the settings file the router pod mounts."""
    args = pod["spec"]["containers"][0]["args"]
    if "--worker" in args:
        host, port = args[args.index("--master-host") + 1], args[args.index("--master-port") + 1]
        master = f"tcp://{host}.{pod['namespace']}.svc.cluster.local:{port}"
        found = service_behind(master, objects)
        assert found is not None, f"{master}: no Service of the stack"
        selector = {"matchLabels": found[0]["spec"]["selector"]}
        (master_pod,) = [p for p in pods(objects) if selects(selector, p["metadata"]["labels"])]
        return [master, *endpoints(master_pod, objects)]
    if "--host" in args:
        return [args[args.index("--host") + 1]]
    if "--router" not in args:
        return []
    maps = {v["configMap"]["name"] for v in pod["spec"]["volumes"] if "configMap" in v}
    (settings,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] in maps]
    document = yaml.safe_load(settings["data"]["runtime.yaml"])
    return [url for urls in document["endpoints"].values() for url in urls]


def service_behind(url: str, objects: list[dict]) -> tuple[dict, int] | None:
    """(the rendered Service a URL names by its cluster DNS name and port, its pods' port), or None."""
    parts = urlsplit(url)
    name, _, rest = (parts.hostname or "").partition(".")
    namespace = rest.removesuffix(".svc.cluster.local")
    for service in objects:
        if service["kind"] != "Service" or (service["metadata"]["name"], service["metadata"]["namespace"]) != (
            name,
            namespace,
        ):
            continue
        (port,) = [p for p in service["spec"]["ports"] if p["port"] == parts.port]
        backing = [
            p for p in pods(objects) if selects({"matchLabels": service["spec"]["selector"]}, p["metadata"]["labels"])
        ]
        assert backing, f"{url}: its Service selects no pod"
        if isinstance(port["targetPort"], int):
            return service, port["targetPort"]
        numbers = {
            cp["containerPort"]
            for p in backing
            for c in p["spec"]["containers"]
            for cp in c["ports"]
            if cp["name"] == port["targetPort"]
        }
        (number,) = numbers
        return service, number
    return None


def talks_to(config: DeploymentConfig, pod: dict, objects: list[dict]) -> set[Allowed]:
    egress = config.cloud.network_policy.egress
    dns = egress.dns
    assert dns.namespace is not None
    want: set[Allowed] = {
        ("pods", dns.namespace, frozenset(dns.pod_labels.items()), protocol, dns.port) for protocol in ("UDP", "TCP")
    }
    fetchers = downloads(pod)
    if fetchers:
        if egress.proxy is not None:
            for container in fetchers:
                assert {"name": "HTTPS_PROXY", "value": egress.proxy.url} in container["env"]
            blocks, port = egress.proxy.ip_blocks, urlsplit(egress.proxy.url).port
        else:
            blocks, port = egress.hub, 443
        assert port is not None
        want |= {("addresses", b.cidr, frozenset((cidr, None) for cidr in b.except_), "TCP", port) for b in blocks}
    store = voice_store(pod, objects)
    if store is not None:
        peer = config.voices.store.peer  # type: ignore[union-attr]
        assert store == config.voices.store.url  # type: ignore[union-attr]
        want.add(("pods", peer.namespace or pod["namespace"], frozenset(peer.pod_labels.items()), "TCP", peer.port))
    for url in endpoints(pod, objects):
        found = service_behind(url, objects)
        if found is not None:
            service, port = found
            want.add(("pods", pod["namespace"], frozenset(service["spec"]["selector"].items()), "TCP", port))
            continue
        peer = egress.peers[url]
        if peer.ip_blocks:
            want |= {
                ("addresses", b.cidr, frozenset((c, None) for c in b.except_), "TCP", peer.port) for b in peer.ip_blocks
            }
        else:
            namespace = peer.namespace or pod["namespace"]
            want.add(("pods", namespace, frozenset(peer.pod_labels.items()), "TCP", peer.port))
    return want


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_pod_may_reach_exactly_what_it_talks_to(variant: str) -> None:
    config = config_of(VARIANTS[variant]())
    objects = build_objects(config)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    checked = []
    for pod in pods(objects):
        name = pod["owner"]["metadata"]["name"]
        assert allowed_egress(pod, policies) == talks_to(config, pod, objects), name
        checked.append(name)
    assert checked


def test_the_variants_cover_every_kind_of_peer() -> None:
    """Each branch of talks_to is taken by some variant: the test is not vacuous."""
    seen: set[str] = set()
    for make in VARIANTS.values():
        config = config_of(make())
        objects = build_objects(config)
        for pod in pods(objects):
            fetchers = downloads(pod)
            if fetchers:
                seen.add("proxy" if config.cloud.network_policy.egress.proxy else "hub")
            for url in endpoints(pod, objects):
                seen.add("own service" if service_behind(url, objects) else f"peer {urlsplit(url).scheme}")
            if not fetchers and not endpoints(pod, objects):
                seen.add("dns only")
    assert seen == {"hub", "proxy", "own service", "peer http", "peer https", "dns only"}


def test_only_the_downloading_pool_reaches_the_hub() -> None:
    config = config_of(downloading_pool())
    objects = build_objects(config)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    reach_hub = {
        pod["owner"]["metadata"]["name"]
        for pod in pods(objects)
        if any(kind == "addresses" for kind, *_ in allowed_egress(pod, policies))
    }
    assert reach_hub == {f"edge-{config.edge.pools[0].name}"}


def test_the_metadata_service_and_the_cluster_stay_out_of_reach() -> None:
    """The hub allowance is the public internet: not 169.254.169.254 (node credentials), not pod or Service IPs."""
    config = config_of(read_stack_file("prod"))
    (block,) = config.cloud.network_policy.egress.hub
    excepted = [ipaddress.ip_network(cidr) for cidr in block.except_]
    for address in ("169.254.169.254", "10.96.0.10", "172.20.0.1", "192.168.1.1", "100.64.0.1"):
        assert any(ipaddress.ip_address(address) in net for net in excepted), address
    assert not any(ipaddress.ip_address("18.244.0.1") in net for net in excepted), "a CDN address stays reachable"


def test_egress_left_open_keeps_ingress_only_policies() -> None:
    config = config_of(mutated("hybrid", "cloud.networkPolicy.egress.enabled", False))
    policies = [o for o in build_objects(config) if o["kind"] == "NetworkPolicy"]
    assert policies and all(p["spec"]["policyTypes"] == ["Ingress"] and "egress" not in p["spec"] for p in policies)


def problems(document: dict) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        config_of(document)
    return [(issue.path, issue.message) for issue in caught.value.issues]


def test_an_endpoint_outside_the_stack_needs_a_peer() -> None:
    document = read_stack_file("hybrid")
    document["config"]["voxdeploy:cloud"]["networkPolicy"]["egress"]["peers"] = {}
    ((path, message),) = problems(document)
    assert path == "hybrid.endpoints.fog[0]" and "cloud.networkPolicy.egress.peers" in message


def test_a_peer_for_no_endpoint_is_refused() -> None:
    document = read_stack_file("hybrid")
    peers = document["config"]["voxdeploy:cloud"]["networkPolicy"]["egress"]["peers"]
    peers["http://gone.voxcpm-hybrid.svc.cluster.local:8000"] = {"podLabels": {"app": "gone"}, "port": 8000}
    ((path, message),) = problems(document)
    assert path.endswith("gone.voxcpm-hybrid.svc.cluster.local:8000") and "no hybrid.endpoints URL" in message


def test_an_own_service_typed_as_an_endpoint_needs_no_peer() -> None:
    document = read_stack_file("hybrid")
    own = "http://voxcpm.voxcpm-hybrid.svc.cluster.local:8000"
    document["config"]["voxdeploy:hybrid"]["endpoints"]["cloud"] = [own]
    config = config_of(document)
    objects = build_objects(config)
    (router,) = [p for p in pods(objects) if endpoints(p, objects)]
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert allowed_egress(router, policies) == talks_to(config, router, objects)
    assert own in endpoints(router, objects) and service_behind(own, objects) is not None


@pytest.mark.parametrize(
    ("egress", "words"),
    [
        ({"proxy": {"url": "http://proxy.corp.example", "ipBlocks": [{"cidr": "10.0.0.8/32"}]}}, "name the port"),
        ({"proxy": {"url": "http://proxy.corp.example:3128", "ipBlocks": []}}, "at least 1"),
        ({"hub": [{"cidr": "0.0.0.0/0", "except": ["::/0"]}]}, "not inside cidr"),
        ({"hub": [{"cidr": "10.0.0.1/8"}]}, "host bits"),
        ({"dns": {"podLabels": {"k8s-app": "kube dns"}, "port": 53}}, "not a valid label"),
        ({"dns": {"podLabels": {"k8s-app": "kube-dns"}, "ipBlocks": [{"cidr": "10.0.0.10/32"}], "port": 53}}, "either"),
    ],
    ids=["proxy-without-port", "proxy-without-address", "except-outside", "host-bits", "bad-label", "pods-and-cidr"],
)
def test_bad_egress_settings_are_named(egress: dict, words: str) -> None:
    document = mutated("prod", "cloud.networkPolicy.egress", egress)
    found = problems(document)
    assert any(path.startswith("cloud.networkPolicy.egress") and words in message for path, message in found), found
