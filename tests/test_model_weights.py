"""Where the cloud pods' weights come from: a pinned revision downloaded by huggingface_hub's own CLI into the
directory vLLM-Omni loads, a serving container with the hub offline, and cache modes that bind on real clusters."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.stacks import STACKS, mutated
from tests.support.upstream import assert_hf_download_takes
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.builders.cloud import download_command, runtime_settings
from voxdeploy.infra.config import load_stack


def pod_of(config) -> dict:
    deployment = next(o for o in build_objects(config) if o["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]


def engine_command(config) -> list[str]:
    """The argv the runtime starts `vllm serve` with, as the pod's settings file carries it."""
    return runtime_settings(config).engine.command


def test_the_download_uses_flags_the_real_hf_cli_has() -> None:
    config = load_stack("prod").config
    command = download_command(config.cloud)
    assert command[2] == config.cloud.engine.model
    assert_hf_download_takes(command)


@pytest.mark.parametrize("stack", [s for s in STACKS if load_stack(s).config.cloud.enabled])
def test_the_engine_loads_exactly_what_the_init_container_downloaded(stack: str) -> None:
    config = load_stack(stack).config
    pod = pod_of(config)
    init = next(c for c in pod["initContainers"] if c["name"] == "download-model")
    local_dir = init["command"][init["command"].index("--local-dir") + 1]
    revision = init["command"][init["command"].index("--revision") + 1]
    command = engine_command(config)
    assert command[2] == local_dir and local_dir.endswith(f"/{revision}")
    models = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    serving = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert local_dir.startswith(models["models"] + "/") and serving["models"] == models["models"]
    assert init["command"][:2] == ["timeout", str(config.cloud.pod.model_cache.max_download_seconds)]


def hub_offline_in(env: list[dict]) -> bool:
    """What huggingface_hub itself concludes from a container's environment (its constants, read at import)."""
    values = {e["name"]: e["value"] for e in env if "value" in e}
    code = "import huggingface_hub.constants as c; print(c.HF_HUB_OFFLINE)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **values}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


def test_the_serving_container_is_offline_and_the_download_is_not() -> None:
    pod = pod_of(load_stack("prod").config)
    assert hub_offline_in(pod["containers"][0]["env"])
    assert not hub_offline_in(pod["initContainers"][0]["env"])


def test_prod_pins_a_commit_and_staging_may_follow_main() -> None:
    prod, staging = load_stack("prod").config, load_stack("staging").config
    assert prod.cloud.engine.pins_revision
    assert staging.cloud.engine.revision is None
    assert engine_command(staging)[2].endswith("/main")


def test_cache_modes_render_volumes_that_bind(write_stack) -> None:
    per_pod = load_stack("staging").config
    volumes = {v["name"]: v for v in pod_of(per_pod)["volumes"]}
    assert "emptyDir" in volumes["models"]
    assert not [o for o in build_objects(per_pod) if o["kind"] == "PersistentVolumeClaim"]

    shared = load_stack("prod").config
    claim = next(o for o in build_objects(shared) if o["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == shared.cloud.pod.model_cache.pvc.storage_class_name

    document = mutated("prod", "cloud.pod.modelCache.mode", "image")
    document["config"]["voxdeploy:cloud"]["engine"]["model"] = "/opt/models/VoxCPM2"
    baked = load_stack(str(write_stack(document))).config
    pod = pod_of(baked)
    assert "initContainers" not in pod
    assert "models" not in {v["name"] for v in pod["volumes"]}
    assert engine_command(baked)[2] == "/opt/models/VoxCPM2"


@pytest.mark.parametrize("stack", STACKS)
def test_uid_10001_owns_mounted_volumes_without_a_recursive_chown_each_start(stack: str) -> None:
    for obj in build_objects(load_stack(stack).config):
        spec = obj.get("spec", {}).get("template", {}).get("spec") if isinstance(obj.get("spec"), dict) else None
        if spec:
            context = spec["securityContext"]
            assert context["fsGroup"] == context["runAsUser"] == 10001
            assert context["fsGroupChangePolicy"] == "OnRootMismatch"


def test_prod_pods_land_only_on_the_cards_their_kv_cache_is_sized_for() -> None:
    config = load_stack("prod").config
    terms = pod_of(config)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expression = terms["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert expression == {"key": "nvidia.com/gpu.product", "operator": "In", "values": config.cloud.pod.gpu_products}
    assert "affinity" not in pod_of(load_stack("dev").config)
