"""Stack files -> DeploymentConfig: the good stacks load, every kind of bad input is named precisely."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

from tests.support.schemas import config_models
from tests.support.stacks import DELETE, KEYED, STACKS, STACKS_DIR, mutated
from tests.support.upstream import voxcpm2_deploy_stages
from voxdeploy.cli import EXIT_USAGE, main
from voxdeploy.infra.config import ConfigError, DeploymentConfig, load_stack, parse_config
from voxdeploy.infra.config.base import parse_quantity


def test_every_field_is_documented() -> None:
    undocumented = [
        f"{model.__name__}.{name}"
        for model in config_models(DeploymentConfig)
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert undocumented == []
    assert len(config_models(DeploymentConfig)) > 15


@pytest.mark.parametrize("stack", STACKS)
def test_bundled_stacks_are_valid(stack: str) -> None:
    loaded = load_stack(stack, STACKS_DIR)
    assert loaded.config.environment == stack


def test_prod_stack_carries_the_reference_figures() -> None:
    """The article's figures, except its TP 2, which vLLM-Omni refuses for VoxCPM2 (next test)."""
    cloud = load_stack("prod", STACKS_DIR).config.cloud
    assert cloud.engine.tensor_parallel_size == 1
    assert cloud.engine.max_num_seqs == 256
    assert cloud.engine.max_model_len == 4096
    assert cloud.engine.enable_prefix_caching is True  # the stack says so; the deploy file has it off
    assert cloud.engine.chunked_prefill_size == 512
    assert cloud.engine.gpu_memory_utilization == 0.9
    assert (cloud.autoscaling.min_replicas, cloud.autoscaling.max_replicas) == (2, 10)
    assert cloud.autoscaling.cpu_target_percent == 70
    assert cloud.gpus_per_pod == 1
    assert (cloud.pod.resources.limits.memory, cloud.pod.resources.limits.cpu) == ("32Gi", "8")
    assert (cloud.pod.resources.requests.memory, cloud.pod.resources.requests.cpu) == ("16Gi", "4")


def test_defaults_with_a_keys_secret_are_valid() -> None:
    config = parse_config({"auth": KEYED}, "defaults")
    assert config.cloud.gpus_per_pod == config.cloud.engine.tensor_parallel_size == 1


def test_pods_never_serve_without_keys_unless_the_stack_says_so() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({}, "defaults")
    assert [issue.path for issue in caught.value.issues] == ["auth.keysSecret"]
    assert not parse_config({"auth": {"required": False}}, "open").auth.required


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", 0.5), ("4", 4), ("16Gi", 16 * 2**30), ("1.5", 1.5), ("2k", 2000)],
)
def test_quantities(text: str, value: float) -> None:
    assert float(parse_quantity(text)) == value


# (base stack, key path, bad value, path the message must name, words the message must contain)
INVALID = [
    ("prod", "cloud.autoscaling.minReplicas", 12, "cloud.autoscaling.minReplicas", "maxReplicas (10)"),
    ("prod", "cloud.autoscaling.maxReplicas", 0, "cloud.autoscaling.maxReplicas", "greater than or equal to 1"),
    (
        "prod",
        "cloud.pod.resources.requests.memory",
        "64Gi",
        "cloud.pod.resources.requests.memory",
        "limits.memory (32Gi)",
    ),
    ("prod", "cloud.pod.resources.requests.cpu", 16, "cloud.pod.resources.requests.cpu", "limits.cpu (8)"),
    ("prod", "cloud.pod.resources.limits.memory", "lots", "cloud.pod.resources.limits.memory", "16Gi"),
    ("prod", "cloud.engine.gpuMemoryUtilization", 1.5, "cloud.engine.gpuMemoryUtilization", "less than or equal to 1"),
    ("prod", "cloud.engine.gpuMemoryUtilization", 0, "cloud.engine.gpuMemoryUtilization", "greater than 0"),
    ("prod", "cloud.engine.tensorParallelSize", 2, "cloud.engine.tensorParallelSize", "vllm-omni issue 5003"),
    ("prod", "cloud.engine.stageDevices", "0,1", "cloud.engine.stageDevices", "must list 1 distinct devices"),
    ("prod", "cloud.engine.stageDevices", "gpu0", "cloud.engine.stageDevices", "should match pattern"),
    ("dev", "cloud.pod.gpusPerPod", 0, "cloud.pod.gpusPerPod", "needs CUDA"),
    (
        "prod",
        "cloud.disruptionBudget",
        {"minAvailable": 2},
        "cloud.disruptionBudget.minAvailable",
        "fewest replicas (2)",
    ),
    ("prod", "cloud.disruptionBudget.maxUnavailable", 0, "cloud.disruptionBudget.maxUnavailable", "must be >= 1"),
    (
        "prod",
        "cloud.disruptionBudget.minAvailable",
        1,
        "cloud.disruptionBudget",
        "either maxUnavailable or minAvailable",
    ),
    ("prod", "cloud.engine.revision", "main", "cloud.engine.revision", "40-hex Hugging Face commit id"),
    ("prod", "cloud.engine.revision", DELETE, "cloud.engine.revision", "when stage is prod"),
    ("prod", "cloud.engine.revision", "a b", "cloud.engine.revision", "should match pattern"),
    ("prod", "cloud.pod.modelCache.pvc.storageClassName", DELETE, "cloud.pod.modelCache.pvc.storageClassName", "EKS"),
    ("prod", "cloud.pod.modelCache.mode", "image", "cloud.engine.model", "baked into the image"),
    ("prod", "cloud.pod.modelCache.mode", "none", "cloud.pod.modelCache.mode", "'pvc', 'emptyDir' or 'image'"),
    ("prod", "cloud.pod.modelCache.maxDownloadSeconds", 10, "cloud.pod.modelCache.maxDownloadSeconds", "60"),
    ("prod", "cloud.pod.gpuProducts", [], "cloud.pod.gpuProducts", "kvCacheMemoryGib is 24 GiB"),
    ("prod", "cloud.rollout.maxSurge", "0%", "cloud.rollout.maxSurge", "percentage from 1% to 100%"),
    ("prod", "cloud.rollout.maxSurge", 0, "cloud.rollout.maxSurge", "a count >= 1"),
    ("prod", "cloud.engine.maxNumSeqs", 64, "cloud.engine.maxNumSeqs", "maxConcurrentRequests (100)"),
    ("prod", "cloud.pod.image.tag", "latest", "cloud.pod.image.tag", "not allowed when stage is prod"),
    ("prod", "cloud.pod.image.tag", DELETE, "cloud.pod.image.tag", "set a tag"),
    ("prod", "cloud.pod.image.digest", "sha256:abc", "cloud.pod.image.digest", "should match pattern"),
    ("prod", "cloud.autoscaling.minReplica", 3, "cloud.autoscaling.minReplica", "did you mean 'minReplicas'"),
    ("prod", "cloud.engine.tensorParallelSize", "2", "cloud.engine.tensorParallelSize", "valid integer"),
    ("prod", "cloud.engine.enablePrefixCaching", "yes", "cloud.engine.enablePrefixCaching", "valid boolean"),
    ("prod", "stage", "production", "stage", "'dev', 'staging' or 'prod'"),
    ("prod", "namespace", "Vox_CPM", "namespace", "should match pattern"),
    ("prod", "cloud.engine.port", 8000, "cloud.engine.port", "must differ from cloud.server.port (8000)"),
    ("prod", "cloud.pod.sharedMemorySize", "32Gi", "cloud.pod.sharedMemorySize", "memory limit"),
    (
        "prod",
        "cloud.pod.modelCache.pvc.accessMode",
        "ReadWriteOnce",
        "cloud.pod.modelCache.pvc.accessMode",
        "10 replicas",
    ),
    (
        "prod",
        "cloud.pod.tolerations",
        [{"operator": "Exists"}],
        "cloud.pod.tolerations[0].key",
        "required key is missing",
    ),
    ("prod", "cloud.server.logLevel", "verbose", "cloud.server.logLevel", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
    ("prod", "labels", {"team": "voice team"}, "labels.team", "not a valid label value"),
    ("prod", "clod", {}, "clod", "did you mean 'cloud'"),
]


@pytest.mark.parametrize(
    ("base", "key", "value", "path", "words"),
    INVALID,
    ids=[f"{i[1]}={'(deleted)' if i[2] is DELETE else i[2]}" for i in INVALID],
)
def test_invalid_stack_exits_2_and_names_the_path(
    write_stack, capsys, base: str, key: str, value: object, path: str, words: str
) -> None:
    stack_file = write_stack(mutated(base, key, value))
    assert main(["validate", "--stack", str(stack_file)]) == EXIT_USAGE
    err = capsys.readouterr().err
    problems = (line.strip().split("invalid configuration: ", 1)[-1] for line in err.splitlines())
    line = next((line for line in problems if line.startswith((path + " ", path + ":"))), None)
    assert line is not None, err
    assert words in line, err
    assert str(stack_file) in err


def test_all_problems_are_reported_at_once(write_stack) -> None:
    document = mutated("prod", "cloud.autoscaling.minReplicas", 12)
    document["config"]["voxdeploy:cloud"]["engine"]["maxNumSeqs"] = 64
    with pytest.raises(ConfigError) as caught:
        load_stack(str(write_stack(document)))
    paths = [issue.path for issue in caught.value.issues]
    assert "cloud.autoscaling.minReplicas" in paths and "cloud.engine.maxNumSeqs" in paths


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("config: [1, 2\n", "not valid YAML at line"),
        ("- just\n- a list\n", "must be a mapping"),
        ("config: 3\n", "must be a mapping of 'voxdeploy:<key>' entries"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_unreadable_stack_files(tmp_path, capsys, content: str | bytes, words: str) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["validate", "--stack", str(path)]) == EXIT_USAGE
    assert words in capsys.readouterr().err


def test_unknown_stack_lists_the_known_ones(capsys) -> None:
    assert main(["validate", "--stack", "prdo", "--stacks-dir", str(STACKS_DIR)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Pulumi.prdo.yaml" in err and "dev, edge, hybrid, prod, staging" in err


def test_other_namespaces_are_left_to_pulumi(write_stack) -> None:
    document = mutated("dev", "environment", "dev")
    document["config"]["kubernetes:context"] = "gpu-cluster"
    assert load_stack(str(write_stack(document))).config.environment == "dev"


def test_models_are_frozen() -> None:
    config = parse_config({"auth": KEYED}, "x")
    with pytest.raises(ValidationError, match="frozen"):
        config.cloud.replicas = 3  # type: ignore[misc]
    assert typing.get_origin(DeploymentConfig.model_fields["labels"].annotation) is dict


def test_sharding_is_refused_because_upstream_pins_every_stage_to_one_device(write_stack) -> None:
    """vLLM-Omni's own deploy/voxcpm2.yaml (the fixture, commit named in its header) gives every stage one
    device; a top-level --tensor-parallel-size is handed to each stage and fails (vllm-omni issue 5003)."""
    assert all(len(str(stage["devices"]).split(",")) == 1 for stage in voxcpm2_deploy_stages())
    for stack in STACKS:
        assert load_stack(stack, STACKS_DIR).config.cloud.engine.tensor_parallel_size == 1, stack
    path = write_stack(mutated("prod", "cloud.engine.tensorParallelSize", 2))
    with pytest.raises(ConfigError) as raised:
        load_stack(str(path), STACKS_DIR)
    (issue,) = [i for i in raised.value.issues if i.path == "cloud.engine.tensorParallelSize"]
    assert "runs each stage on one device" in issue.message
    assert "scale out" in issue.message
