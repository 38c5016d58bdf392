"""API keys in the rendered pods: no pod runs without keys unless the stack says so, every pod mounts the keys it
checks as a whole Secret volume (so rotation reaches it), the router holds its own key, and /metrics has a port
that only the monitoring namespaces may reach."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from tests.support.pulumi_mocks import as_pulumi_config, fresh_mocks
from tests.support.schemas import validate_object
from tests.support.stacks import DELETE, STACKS, STACKS_DIR, mutated
from voxdeploy.contracts.auth import ApiKeys
from voxdeploy.infra.builders import auth, batch, build_objects, loadtest, workloads
from voxdeploy.infra.config import ConfigError, config_from_keys, load_stack, parse_config
from voxdeploy.infra.pulumi_program import main

COMPONENT_LABEL = "app.kubernetes.io/component"


def config_of(document: dict):
    return parse_config(config_from_keys(document["config"]), "test")


def refused(document: dict) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_of(document)
    return [issue.path for issue in caught.value.issues]


def pods(objects: list[dict]) -> Iterator[tuple[dict, dict]]:
    """(pod spec, its runtime settings document) of every Deployment and DaemonSet."""
    maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    for obj in objects:
        if obj["kind"] in ("Deployment", "DaemonSet"):
            spec = obj["spec"]["template"]["spec"]
            (name,) = [v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v]
            yield spec, yaml.safe_load(maps[name]["data"][workloads.RUNTIME_CONFIG_FILE])


def test_a_stack_with_pods_and_no_keys_is_refused_unless_it_says_so() -> None:
    assert refused(mutated("prod", "auth", DELETE)) == ["auth.keysSecret"]
    assert not config_of(mutated("prod", "auth", {"required": False})).auth.required
    assert refused(mutated("hybrid", "auth.routerKeySecret", DELETE)) == ["auth.routerKeySecret"]
    same = mutated("hybrid", "auth.routerKeySecret", {"name": "voxcpm-api-keys", "key": "router"})
    assert refused(same) == ["auth.routerKeySecret.name"]
    assert refused(mutated("prod", "auth", {"required": False, "keysSecret": "keys"})) == ["auth.required"]
    assert refused(mutated("prod", "auth.routerKeySecret", {"name": "rk", "key": "router"})) == ["auth.routerKeySecret"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_mounts_the_keys_it_checks(stack: str) -> None:
    config = load_stack(stack, STACKS_DIR).config
    for spec, settings in pods(build_objects(config)):
        mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
        secrets = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
        assert all("subPath" not in m for m in mounts.values()), "a subPath mount never sees a rotated Secret"
        keys = ApiKeys.model_validate(settings["auth"])
        assert secrets["api-keys"]["secretName"] == config.auth.keys_secret
        assert mounts["api-keys"] == {"name": "api-keys", "mountPath": keys.keys, "readOnly": True}
        assert settings["server"]["metricsPort"] == workloads.METRICS_PORT
        own = config.auth.router_key_secret
        if "--router" in spec["containers"][0]["args"]:
            assert own is not None and settings["upstreamKey"] == f"{auth.OWN_KEY_DIR}/{own.key}"
            assert secrets["router-key"] == {
                "secretName": own.name,
                "defaultMode": auth.SECRET_FILE_MODE,
                "items": [{"key": own.key, "path": own.key}],
            }
        elif config.hybrid.enabled:
            assert own is not None and keys.forwarders == mounts["forwarder-keys"]["mountPath"]
            assert secrets["forwarder-keys"]["secretName"] == own.name
        else:
            assert keys.forwarders is None and "forwarder-keys" not in mounts


def test_an_open_stack_renders_open_pods() -> None:
    objects = build_objects(config_of(mutated("hybrid", "auth", {"required": False})))
    for spec, settings in pods(objects):
        assert settings["auth"] is None and settings.get("upstreamKey") is None
        assert not [v for v in spec["volumes"] if "secret" in v]


@pytest.mark.parametrize("stack", STACKS)
def test_metrics_have_a_port_only_monitoring_reaches(stack: str) -> None:
    config = load_stack(stack, STACKS_DIR).config
    clients = (batch.COMPONENT, loadtest.COMPONENT)  # the tiers' clients: no API, no /metrics
    objects = [o for o in build_objects(config) if o["metadata"].get("labels", {}).get(COMPONENT_LABEL) not in clients]
    monitoring = set(config.cloud.network_policy.metrics_namespaces)
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy" and "Ingress" in o["spec"]["policyTypes"]):
        api, metrics = policy["spec"]["ingress"]
        assert [p["port"] for p in metrics["ports"]] == [workloads.METRICS_PORT]
        assert {
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in metrics["from"]
        } == (monitoring)
        assert workloads.METRICS_PORT not in [p["port"] for p in api["ports"]]
    for monitor in (o for o in objects if o["kind"] == "ServiceMonitor"):
        assert [e["port"] for e in monitor["spec"]["endpoints"]] == [workloads.METRICS_PORT_NAME]
    for service in (o for o in objects if o["kind"] == "Service"):
        assert workloads.METRICS_PORT_NAME in [p["name"] for p in service["spec"]["ports"]]


def test_a_metrics_port_on_the_api_port_is_refused() -> None:
    assert refused(mutated("prod", "cloud.server.port", workloads.METRICS_PORT)) == ["cloud.server.metricsPort"]


def test_external_secrets_fill_the_key_secrets() -> None:
    document = mutated(
        "hybrid",
        "secrets",
        {
            "source": "externalSecret",
            "store": {"name": "vault"},
            "remoteKeys": {"apiKeys": "voxcpm/api-keys", "routerKey": "voxcpm/router-key"},
        },
    )
    externals = {o["metadata"]["name"]: o for o in build_objects(config_of(document)) if o["kind"] == "ExternalSecret"}
    assert externals["voxcpm-api-keys"]["spec"]["dataFrom"] == [{"extract": {"key": "voxcpm/api-keys"}}]
    assert externals["voxcpm-router-key"]["spec"]["data"] == [
        {"secretKey": "router", "remoteRef": {"key": "voxcpm/router-key"}}
    ]
    for external in externals.values():
        validate_object(external)
    stale = mutated("prod", "secrets", {"source": "externalSecret", "store": {"name": "v"}, "remoteKeys": {"x": "y"}})
    assert "secrets.remoteKeys" in refused(stale)


def test_pulumi_creates_the_key_secret_from_its_secret_value() -> None:
    document = mutated("prod", "secrets", {"source": "pulumi"})
    mocks = fresh_mocks("prod")
    keys = json.dumps({"alice": "a" * 32, "bob": "b" * 32})
    pulumi.runtime.set_all_config(
        {**as_pulumi_config(document["config"]), "voxdeploy:apiKeys": keys}, secret_keys=["voxdeploy:apiKeys"]
    )
    pulumi.runtime.test(lambda: main())()
    (secret,) = [r for r in mocks.resources if r.typ == "kubernetes:core/v1:Secret"]
    assert secret.inputs["metadata"]["name"] == "voxcpm-api-keys"
    data = secret.inputs["stringData"]
    assert data[rpc._special_sig_key] == rpc._special_secret_sig, "kept secret in Pulumi's state"
    assert data["value"] == {"alice": "a" * 32, "bob": "b" * 32}
