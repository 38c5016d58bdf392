"""Edge node pools and the hybrid router's objects: sizing per device, and the checks that refuse misfits."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.support.schemas import strict
from tests.support.stacks import REPO, STACKS_DIR, read_stack_file
from tests.support.upstream import assert_hf_download_takes
from voxdeploy.contracts.router import RouterSettings
from voxdeploy.contracts.runtime import RuntimeConfig
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import ConfigError, load_stack, parse_config
from voxdeploy.infra.config.edge import device_catalogue, model_files_gib

NODEPOOL_SCHEMA = REPO / "tests" / "fixtures" / "crds" / "openyurt-nodepool-v1beta1.yaml"


def objects(stack: str) -> list[dict]:
    return build_objects(load_stack(stack, STACKS_DIR).config)


def named(objs: list[dict], kind: str, name: str) -> dict:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def settings_of(config_map: dict) -> dict:
    return yaml.safe_load(config_map["data"]["runtime.yaml"])


def test_catalogue_carries_the_reference_devices() -> None:
    catalogue = device_catalogue()
    assert set(catalogue) == {"apple-m4-pro", "jetson-orin", "intel-i9-13900k", "raspberry-pi-5"}
    assert catalogue["jetson-orin"].expected_rtf == {"Q4_K_M": 2.94}
    assert catalogue["raspberry-pi-5"].backends == ["cpu"]
    assert model_files_gib("Q4_0") < model_files_gib("Q8_0") < model_files_gib("F16")


def test_edge_stack_has_a_pool_per_device() -> None:
    objs = objects("edge")
    schema = strict(yaml.safe_load(NODEPOOL_SCHEMA.read_text()))
    pools = [o for o in objs if o["kind"] == "NodePool"]
    assert [p["metadata"]["name"] for p in pools] == ["edge-m4-pro", "edge-jetson", "edge-i9", "edge-rpi5"]
    for pool in pools:
        jsonschema.validate(pool, schema)
        assert "namespace" not in pool["metadata"], "NodePool is cluster-scoped"
        assert pool["spec"]["taints"][0]["key"] == "voxdeploy.io/edge-pool"
    assert len([o for o in objs if o["kind"] == "DaemonSet"]) == 4


def test_nodepool_schema_catches_a_typo() -> None:
    pool = copy.deepcopy(named(objects("edge"), "NodePool", "edge-rpi5"))
    pool["spec"]["taint"] = pool["spec"].pop("taints")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(pool, strict(yaml.safe_load(NODEPOOL_SCHEMA.read_text())))


def test_jetson_pool_gets_its_gpu_and_all_layers_offloaded() -> None:
    objs = objects("edge")
    pod = named(objs, "DaemonSet", "edge-jetson")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"voxdeploy.io/edge-pool": "jetson", "kubernetes.io/arch": "arm64"}
    unreachable = next(t for t in pod["tolerations"] if t["key"] == "node.kubernetes.io/unreachable")
    assert unreachable["tolerationSeconds"] == 3600, "edge links drop: far longer than the 300 s default"
    command = settings_of(named(objs, "ConfigMap", "edge-jetson-runtime"))["engine"]["command"]
    assert command[:5] == [
        "llama-tts-server",
        "--voxcpm2-base-lm",
        "/models/VoxCPM2-BaseLM-Q4_K_M.gguf",
        "--voxcpm2-acoustic",
        "/models/VoxCPM2-Acoustic-F16.gguf",
    ]
    assert command[command.index("--voxcpm2-n-gpu-layers") + 1] == "999"
    assert command[command.index("--threads") + 1] == "8"


def test_cpu_pools_offload_nothing_and_size_memory_from_the_files() -> None:
    objs = objects("edge")
    settings = settings_of(named(objs, "ConfigMap", "edge-rpi5-runtime"))
    RuntimeConfig.model_validate(settings)
    assert "--voxcpm2-n-gpu-layers" not in settings["engine"]["command"]
    assert settings["engine"]["kind"] == "llamacpp"
    assert settings["server"]["maxConcurrentRequests"] == 1
    limits = named(objs, "DaemonSet", "edge-rpi5")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["cpu"] == "4" and "nvidia.com/gpu" not in limits
    assert int(limits["memory"].removesuffix("Mi")) / 1024 == pytest.approx(model_files_gib("Q4_0") + 1.5, abs=0.01)


def test_labels_orchestrator_makes_no_nodepools() -> None:
    kinds = [o["kind"] for o in objects("hybrid")]
    assert "NodePool" not in kinds and kinds.count("DaemonSet") == 2


def test_hybrid_router_points_at_this_stacks_services() -> None:
    objs = objects("hybrid")
    settings = RouterSettings.model_validate(settings_of(named(objs, "ConfigMap", "voxcpm-router-runtime")))
    assert settings.endpoints == {
        "edge": [
            "http://edge-jetson.voxcpm-hybrid.svc.cluster.local:8000",
            "http://edge-i9.voxcpm-hybrid.svc.cluster.local:8000",
        ],
        "fog": ["http://fog-tts.voxcpm-hybrid.svc.cluster.local:8000"],
        "cloud": ["http://voxcpm.voxcpm-hybrid.svc.cluster.local:8000"],
    }
    router = named(objs, "Deployment", "voxcpm-router")
    assert router["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["serve", "--router"]
    for kind in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"):
        named(objs, kind, "voxcpm-router")


def edge_doc(**pool: object) -> dict:
    document = read_stack_file("edge")
    document["config"]["voxdeploy:edge"]["pools"] = [{"name": "p", "device": "raspberry-pi-5", **pool}]
    return document


@pytest.mark.parametrize(
    ("pool", "path", "words"),
    [
        ({"quantization": "F16"}, "edge.pools[0].quantization", "quantizations that fit: Q4_0"),
        ({"backend": "cuda"}, "edge.pools[0].backend", "raspberry-pi-5 has no cuda backend; it has cpu"),
        ({"device": "jetson-orin", "backend": "metal"}, "edge.pools[0].backend", "has no metal backend"),
        ({"threads": 32}, "edge.pools[0].threads", "has 4 cores"),
        ({"imageArchitectures": ["amd64"]}, "edge.pools[0].imageArchitectures", "raspberry-pi-5 is arm64"),
        ({"device": "pi-zero"}, "edge.pools[0].device", "known: apple-m4-pro, intel-i9-13900k"),
        ({"gpuLayers": 10}, "edge.pools[0].gpuLayers", "cpu backend offloads nothing"),
        ({"quantization": "Q3"}, "edge.pools[0].quantization", "'Q4_0', 'Q4_K_M'"),
    ],
)
def test_misfit_pools_are_refused(write_stack, pool: dict, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_stack(str(write_stack(edge_doc(**pool))))
    issue = next(i for i in caught.value.issues if i.path == path)
    assert words in issue.message, issue


@pytest.mark.parametrize(
    ("weights", "path", "words"),
    [
        ({"source": "download", "revision": "a" * 40}, "edge.pools[0].weights.repository", "repository"),
        ({"source": "download", "repository": "me/gguf"}, "edge.pools[0].weights.revision", "40-hex commit"),
        ({"source": "download", "repository": "me/gguf", "revision": "main"}, "edge.pools[0].weights.revision", "40"),
        ({"source": "pvc"}, "edge.pools[0].weights.claim", "existing claim"),
        ({"source": "nfs"}, "edge.pools[0].weights.source", "'image', 'download' or 'pvc'"),
    ],
)
def test_weight_sources_need_their_settings(write_stack, weights: dict, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_stack(str(write_stack(edge_doc(weights=weights))))
    issue = next(i for i in caught.value.issues if i.path == path)
    assert words in issue.message, issue


def pool_objects(write_stack, weights: dict) -> list[dict]:
    return build_objects(load_stack(str(write_stack(edge_doc(weights=weights)))).config)


def pool_pod(write_stack, weights: dict) -> dict:
    return named(pool_objects(write_stack, weights), "DaemonSet", "edge-p")["spec"]["template"]["spec"]


def test_baked_weights_need_no_volume_and_no_network(write_stack) -> None:
    pod = pool_pod(write_stack, {"source": "image"})
    assert "initContainers" not in pod
    assert "models" not in {v["name"] for v in pod["volumes"]}
    assert not any(m["name"] == "models" for m in pod["containers"][0]["volumeMounts"])


def test_a_download_fetches_the_pools_two_files_once_per_pod_onto_the_node(write_stack) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    weights = {"source": "download", "repository": "site/voxcpm2-gguf", "revision": commit}
    objs = pool_objects(write_stack, weights)
    pod = named(objs, "DaemonSet", "edge-p")["spec"]["template"]["spec"]
    init = pod["initContainers"][0]
    assert_hf_download_takes(init["command"])
    server = settings_of(named(objs, "ConfigMap", "edge-p-runtime"))["engine"]["command"]
    files = [server[server.index("--voxcpm2-base-lm") + 1], server[server.index("--voxcpm2-acoustic") + 1]]
    local_dir = init["command"][init["command"].index("--local-dir") + 1]
    assert [f"{local_dir}/{name}" for name in init["command"][3:5]] == files
    assert init["command"][init["command"].index("--revision") + 1] == commit
    volume = next(v for v in pod["volumes"] if v["name"] == "models")
    assert "emptyDir" in volume, "node-local: it outlives engine restarts and needs no network volume"


def test_a_site_claim_is_mounted_read_only(write_stack) -> None:
    pod = pool_pod(write_stack, {"source": "pvc", "claim": "site-gguf"})
    volume = next(v for v in pod["volumes"] if v["name"] == "models")
    assert volume["persistentVolumeClaim"] == {"claimName": "site-gguf", "readOnly": True}


def test_duplicate_pool_names_are_refused(write_stack) -> None:
    document = edge_doc()
    document["config"]["voxdeploy:edge"]["pools"] *= 2
    with pytest.raises(ConfigError, match=r"edge.pools\[1\].name"):
        load_stack(str(write_stack(document)))


def test_users_add_their_own_devices(write_stack) -> None:
    document = edge_doc(device="orange-pi-5", quantization="Q8_0")
    document["config"]["voxdeploy:edge"]["devices"] = {
        "orange-pi-5": {
            "description": "Orange Pi 5, RK3588",
            "memoryGib": 16,
            "cores": 8,
            "architecture": "arm64",
            "backends": ["cpu"],
            "powerWatts": 10,
        }
    }
    objs = build_objects(load_stack(str(write_stack(document))).config)
    assert named(objs, "DaemonSet", "edge-p")


def test_hybrid_router_needs_somewhere_to_send() -> None:
    document = {"cloud": {"enabled": False}, "hybrid": {"enabled": True}}
    with pytest.raises(ConfigError, match=r"hybrid\.endpoints"):
        parse_config(document, "x")
    with pytest.raises(ConfigError, match=r"hybrid.endpoints.fog\[0\]"):
        parse_config({"hybrid": {"enabled": True, "endpoints": {"fog": ["fog:8000"]}}}, "x")


def test_latest_is_refused_on_any_tier_in_prod() -> None:
    document = {
        "stage": "prod",
        "edge": {
            "enabled": True,
            "pools": [{"name": "p", "device": "intel-i9-13900k", "image": {"repository": "r", "tag": "latest"}}],
        },
    }
    with pytest.raises(ConfigError, match=r"edge.pools\[0\].image.tag"):
        parse_config(document, "x")


def test_stacks_dir_holds_the_issue_stacks() -> None:
    assert {p.name for p in Path(STACKS_DIR).glob("Pulumi.*.yaml")} >= {"Pulumi.edge.yaml", "Pulumi.hybrid.yaml"}


def test_router_timeout_must_outlast_its_tiers() -> None:
    with pytest.raises(ConfigError, match=r"hybrid\.server\.requestTimeoutSeconds"):
        parse_config({"hybrid": {"enabled": True, "server": {"requestTimeoutSeconds": 300}}}, "x")


def test_a_first_byte_timeout_shorter_than_a_quiet_spell_between_checks_is_refused() -> None:
    """A live endpoint may answer no check for an interval plus a check timeout: a shorter first-byte timeout
    would take its long syntheses for hangs."""
    with pytest.raises(ConfigError, match=r"hybrid\.firstByteTimeoutSeconds = 2(.0)?: must exceed .*\(3 s\)"):
        parse_config({"hybrid": {"enabled": True, "firstByteTimeoutSeconds": 2}}, "x")
    with pytest.raises(ConfigError, match=r"must exceed health.intervalSeconds \+ health.timeoutSeconds \(11 s\)"):
        parse_config({"hybrid": {"enabled": True, "health": {"intervalSeconds": 10}}}, "x")


def test_every_router_behaviour_field_of_the_stack_reaches_the_routers_settings() -> None:
    from voxdeploy.contracts.router import RouterBehaviour
    from voxdeploy.infra.builders.hybrid import router_settings
    from voxdeploy.infra.builders.workloads import pod_server

    document = load_stack("hybrid", STACKS_DIR).config.model_dump(mode="json")
    document["hybrid"].update({"connectTimeoutSeconds": 1.5, "firstByteTimeoutSeconds": 7.0})
    document["hybrid"]["health"]["maxEjectionPercent"] = 50
    config = parse_config(document, "hybrid")
    rendered = router_settings(config)
    assert (rendered.connect_timeout_seconds, rendered.first_byte_timeout_seconds) == (1.5, 7.0)
    assert rendered.health.max_ejection_percent == 50
    for name in RouterBehaviour.model_fields:
        wanted = getattr(config.hybrid, name)
        if name == "server":
            wanted = pod_server(wanted)  # a pod serves /metrics on a port of its own
        assert getattr(rendered, name) == wanted, name
