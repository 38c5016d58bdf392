"""Builders: valid Kubernetes 1.30 objects, Pod Security 'restricted', and the sizing the stack asked for."""

from __future__ import annotations

import itertools
import json

import kubernetes_validate
import pytest
import yaml

from tests.support.schemas import KUBERNETES_VERSION, is_custom_resource
from tests.support.stacks import KEYED, STACKS, STACKS_DIR, mutated, read_stack_file
from tests.support.upstream import VOXCPM2_DEPLOY, voxcpm2_deploy_stages
from voxdeploy.contracts.model import MODEL_ID
from voxdeploy.infra.builders import build_groups, build_objects
from voxdeploy.infra.builders.cloud import runtime_settings
from voxdeploy.infra.builders.engine_command import vllm_omni_command
from voxdeploy.infra.config import ConfigError, load_stack, parse_config
from voxdeploy.infra.config.cloud import DEPLOY_FILE

PROD_REVISION = read_stack_file("prod")["config"]["voxdeploy:cloud"]["engine"]["revision"]


def objects_of(stack: str) -> list[dict]:
    return build_objects(load_stack(stack, STACKS_DIR).config)


def by_kind(objects: list[dict], kind: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind]
    assert len(matches) == 1, [o["kind"] for o in objects]
    return matches[0]


def pod_specs(objects: list[dict]) -> list[dict]:
    return [o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("Deployment", "DaemonSet")]


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_passes_strict_schema_validation(stack: str) -> None:
    checked = 0
    for obj in objects_of(stack):
        if is_custom_resource(obj):
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 7


def test_schema_validation_catches_a_bad_object() -> None:
    """The validator is really strict: an unknown field in a container is rejected."""
    deployment = by_kind(objects_of("prod"), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["gpus"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_pods_meet_pod_security_restricted(stack: str) -> None:
    for spec in pod_specs(objects_of(stack)):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert set(container["resources"]["requests"]) >= {"cpu", "memory"}
            assert set(container["resources"]["limits"]) >= {"cpu", "memory"}
        assert not any("hostPath" in v for v in spec["volumes"])
    namespace = by_kind(objects_of(stack), "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_prod_deployment_sizing_and_probes() -> None:
    objects = objects_of("prod")
    deployment = by_kind(objects, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "1"}
    assert container["resources"]["requests"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1200
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in spec["volumes"]
    assert spec["terminationGracePeriodSeconds"] == 330
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert by_kind(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_engine_command_carries_the_engine_config() -> None:
    config_map = next(o for o in objects_of("prod") if o["kind"] == "ConfigMap" and "runtime.yaml" in o["data"])
    settings = yaml.safe_load(config_map["data"]["runtime.yaml"])
    command = settings["engine"]["command"]
    assert command[:4] == ["vllm", "serve", f"/models/{MODEL_ID}/{PROD_REVISION}", "--omni"]
    flags = dict(itertools.pairwise(command[4:]))
    assert flags["--served-model-name"] == MODEL_ID, "clients still name the model by its hub id"
    assert flags["--tensor-parallel-size"] == "1"
    assert flags["--max-num-seqs"] == "256"
    assert flags["--max-num-batched-tokens"] == "512"
    assert "--enable-prefix-caching" in command and "--enable-chunked-prefill" in command
    assert "--enforce-eager" not in command
    assert settings["server"]["maxConcurrentRequests"] == 100
    dev_map = next(o for o in objects_of("dev") if o["kind"] == "ConfigMap" and "runtime.yaml" in o["data"])
    dev_command = yaml.safe_load(dev_map["data"]["runtime.yaml"])["engine"]["command"]
    assert "--enforce-eager" in dev_command


@pytest.mark.parametrize("stack", STACKS)
def test_selectors_match_pod_labels_and_exclude_version(stack: str) -> None:
    objects = objects_of(stack)
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    workloads = [o for o in objects if o["kind"] in ("Deployment", "DaemonSet")]
    assert workloads
    for workload in workloads:
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items()
        assert "app.kubernetes.io/version" not in selector
        assert services[workload["metadata"]["name"]]["spec"]["selector"] == selector
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "voxdeploy"
        assert labels["app.kubernetes.io/part-of"] == "voxdeploy"


def test_config_change_rolls_the_pods() -> None:
    base = parse_config({"auth": KEYED}, "a")
    changed = parse_config({"auth": KEYED, "cloud": {"engine": {"maxModelLen": 2048}}}, "b")
    annotation = "voxdeploy.io/runtime-config-sha256"

    def digest(config) -> str:
        deployment = next(o for o in build_objects(config) if o["kind"] == "Deployment")
        return deployment["spec"]["template"]["metadata"]["annotations"][annotation]

    assert digest(base) != digest(changed)
    assert digest(base) == digest(parse_config({"auth": KEYED}, "c"))


def test_optional_objects_follow_their_switches(write_stack) -> None:
    document = mutated("prod", "cloud.autoscaling.enabled", False)
    cloud = document["config"]["voxdeploy:cloud"]
    cloud["replicas"] = 3
    cloud["networkPolicy"] = {"enabled": False}
    cloud["pod"]["modelCache"] = {"mode": "image"}
    cloud["engine"]["model"] = "/opt/models/VoxCPM2"
    config = load_stack(str(write_stack(document))).config
    objects = build_objects(config)
    kinds = [o["kind"] for o in objects]
    assert "HorizontalPodAutoscaler" not in kinds and "NetworkPolicy" not in kinds
    assert "PersistentVolumeClaim" not in kinds
    deployment = by_kind(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert "initContainers" not in deployment["spec"]["template"]["spec"]


def test_secret_token_is_a_reference_never_a_value() -> None:
    config = parse_config(
        {"auth": KEYED, "cloud": {"pod": {"modelCache": {"hfTokenSecret": {"name": "hf", "key": "token"}}}}}, "x"
    )
    deployment = next(o for o in build_objects(config) if o["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["initContainers"][0]["env"]
    token = next(e for e in env if e["name"] == "HF_TOKEN")
    assert token == {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}}


def test_groups_start_with_the_namespace() -> None:
    groups = build_groups(load_stack("prod", STACKS_DIR).config)
    assert groups[0].concern == "namespace"
    assert all(group.objects for group in groups)


def upstream_stage() -> dict:
    return voxcpm2_deploy_stages()[0]


def test_the_deploy_file_defaults_are_upstreams() -> None:
    stage = upstream_stage()
    assert DEPLOY_FILE.enforce_eager is stage["enforce_eager"]
    assert DEPLOY_FILE.enable_prefix_caching is stage["enable_prefix_caching"]
    assert DEPLOY_FILE.max_num_batched_tokens == stage["max_num_batched_tokens"]
    assert DEPLOY_FILE.kv_cache_memory_bytes == stage["kv_cache_memory_bytes"]


def test_the_flags_always_rendered_default_to_the_deploy_files_values() -> None:
    """--max-num-seqs, --max-model-len, --gpu-memory-utilization and --dtype are typed on every command line, so they
    override the deploy file: their defaults must be the file's own, or a bare stack would silently change them."""
    stage = upstream_stage()
    document = yaml.safe_load(VOXCPM2_DEPLOY.read_text())
    flags = dict(itertools.pairwise(vllm_omni_command(parse_config({"auth": KEYED}, "bare").cloud)))
    assert flags["--max-num-seqs"] == str(stage["max_num_seqs"])
    assert flags["--max-model-len"] == str(stage["max_model_len"])
    assert float(flags["--gpu-memory-utilization"]) == stage["gpu_memory_utilization"]
    assert flags["--dtype"] == document["dtype"]


CONTRADICTIONS = {
    # flag typed on the command line -> the deploy-file key it overrides, and the value it sets
    "--enable-prefix-caching": ("enable_prefix_caching", True),
    "--no-enable-prefix-caching": ("enable_prefix_caching", False),
    "--enforce-eager": ("enforce_eager", True),
    "--no-enforce-eager": ("enforce_eager", False),
}


def test_an_unset_field_keeps_upstreams_value_and_a_set_one_is_rendered() -> None:
    """vLLM-Omni overrides its deploy file only with flags typed on the command line: with nothing set, no flag
    may contradict the file; each field set in the stack must appear, or it would change nothing."""
    stage = upstream_stage()
    bare = vllm_omni_command(parse_config({"auth": KEYED}, "bare").cloud)
    for flag, (key, value) in CONTRADICTIONS.items():
        if flag in bare:
            assert stage[key] == value, f"{flag} contradicts upstream's {key}: {stage[key]}"
    assert "--max-num-batched-tokens" not in bare
    engine = {"cudaGraphs": True, "enablePrefixCaching": True, "chunkedPrefillSize": 512}
    chosen = vllm_omni_command(parse_config({"auth": KEYED, "cloud": {"engine": engine}}, "chosen").cloud)
    assert {"--no-enforce-eager", "--enable-prefix-caching"} <= set(chosen)
    assert dict(itertools.pairwise(chosen))["--max-num-batched-tokens"] == "512"
    eager = vllm_omni_command(parse_config({"auth": KEYED, "cloud": {"engine": {"cudaGraphs": False}}}, "eager").cloud)
    assert "--enforce-eager" in eager and "--no-enforce-eager" not in eager


def test_engine_init_timeouts_cover_the_startup_budget() -> None:
    for stack in STACKS:
        cloud = load_stack(stack, STACKS_DIR).config.cloud
        flags = dict(itertools.pairwise(vllm_omni_command(cloud)))
        budget = str(cloud.pod.probes.max_startup_seconds)
        assert flags["--stage-init-timeout"] == flags["--init-timeout"] == budget, stack


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_drains_its_longest_request_after_a_pre_stop_wait(stack: str) -> None:
    """The grace period of every workload is read against the request timeout in the settings its pod mounts,
    so a tier whose timeout grows cannot be killed mid-request on a rollout."""
    objects = objects_of(stack)
    settings = {
        o["metadata"]["name"]: yaml.safe_load(o["data"]["runtime.yaml"])
        for o in objects
        if o["kind"] == "ConfigMap" and "runtime.yaml" in o["data"]
    }
    workloads = [o for o in objects if o["kind"] in ("Deployment", "DaemonSet")]
    assert workloads
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        (mounted,) = [v["configMap"]["name"] for v in pod["volumes"] if v["name"] == "runtime-config"]
        server = settings[mounted]["server"]
        (container,) = [c for c in pod["containers"] if c["name"] == "runtime"]
        wait = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert wait >= 1
        least = wait + server["drainDelaySeconds"] + server["requestTimeoutSeconds"]
        assert pod["terminationGracePeriodSeconds"] >= least, workload["metadata"]["name"]


def test_a_grace_period_shorter_than_a_request_is_refused(write_stack) -> None:
    path = write_stack(mutated("staging", "cloud.pod.terminationGracePeriodSeconds", 120))
    with pytest.raises(ConfigError) as raised:
        load_stack(str(path), STACKS_DIR)
    (issue,) = [i for i in raised.value.issues if i.path == "cloud.pod.terminationGracePeriodSeconds"]
    assert "must be >= 320" in issue.message and "requestTimeoutSeconds (300 s)" in issue.message
    assert "drainDelaySeconds (5 s)" in issue.message


@pytest.mark.parametrize("stack", ["prod", "edge"])
def test_the_runtime_restarts_a_hung_engine_after_the_window_liveness_would_give_the_pod(stack: str) -> None:
    objects = objects_of(stack)
    config_map = next(o for o in objects if o["kind"] == "ConfigMap" and "runtime.yaml" in o["data"])
    engine = yaml.safe_load(config_map["data"]["runtime.yaml"])["engine"]
    pod = next(o for o in objects if o["kind"] in ("Deployment", "DaemonSet"))["spec"]["template"]["spec"]
    liveness = pod["containers"][0]["livenessProbe"]
    assert engine["hangTimeoutSeconds"] == liveness["periodSeconds"] * liveness["failureThreshold"]


def test_a_sharded_stage_gets_its_devices_and_parallelism_in_one_override(write_stack) -> None:
    """The deploy file pins stage 0 to devices "0": TP 2 runs only when the stage's own devices say 0,1."""
    document = mutated("prod", "cloud.engine.tensorParallelSize", 2)
    document["config"]["voxdeploy:cloud"]["engine"]["stageDevices"] = "0,1"
    document["config"]["voxdeploy:cloud"]["pod"]["gpusPerPod"] = 2
    config = load_stack(str(write_stack(document))).config
    command = runtime_settings(config).engine.command
    overrides = json.loads(command[command.index("--stage-overrides") + 1])
    assert overrides == {"0": {"kv_cache_memory_bytes": 24 * 1024**3, "devices": "0,1", "tensor_parallel_size": 2}}
    assert upstream_stage()["devices"] == "0", "the upstream value this overrides"
    duplicated = mutated("prod", "cloud.engine.tensorParallelSize", 2)
    duplicated["config"]["voxdeploy:cloud"]["engine"]["stageDevices"] = "0,0"
    with pytest.raises(ConfigError, match=r"cloud\.engine\.stageDevices"):
        load_stack(str(write_stack(duplicated)))
