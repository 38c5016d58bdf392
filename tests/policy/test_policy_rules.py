"""Each policy rule: the bundled stacks pass it, a broken object or stack trips it, and the fix clears it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.policy import built, find, of_rule, put, unwaived_errors
from tests.support.stacks import DELETE, STACKS, read_stack_file
from voxdeploy.infra.config.policy import RULE_IDS
from voxdeploy.infra.policy import RULES, evaluate
from voxdeploy.infra.policy.containers import image_parts

POD = "spec.template.spec"
RUNTIME = f"{POD}.containers.0"
PRELOAD = f"{POD}.initContainers.0"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


@dataclass(frozen=True)
class ObjectCase:
    """Set `path` of object kind/name in a built stack to `broken` (one error of `rule` on it), then `fixed`."""

    rule: str
    path: str
    broken: object
    fixed: object
    stack: str = "prod"
    kind: str = "Deployment"
    name: str = "voxcpm"


OBJECT_CASES = [
    ObjectCase("pss-host-namespaces", f"{POD}.hostPID", True, DELETE),
    ObjectCase("pss-privileged", f"{RUNTIME}.securityContext.privileged", True, False),
    ObjectCase(
        "pss-capabilities",
        f"{PRELOAD}.securityContext.capabilities",
        {"drop": ["ALL"], "add": ["SYS_ADMIN"]},
        {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    ),
    ObjectCase("pss-host-ports", f"{RUNTIME}.ports.0.hostPort", 8000, DELETE),
    ObjectCase(
        "pss-volume-types",
        f"{POD}.volumes.1",
        {"name": "tmp", "hostPath": {"path": "/tmp"}},
        {"name": "tmp", "emptyDir": {}},
    ),
    ObjectCase("pss-privilege-escalation", f"{PRELOAD}.securityContext.allowPrivilegeEscalation", True, False),
    # The container's own false overrides the pod's true; removing it lets the pod's setting apply.
    ObjectCase("pss-run-as-non-root", f"{RUNTIME}.securityContext.runAsNonRoot", False, DELETE),
    ObjectCase(
        "pss-seccomp",
        f"{RUNTIME}.securityContext.seccompProfile",
        {"type": "Unconfined"},
        {"type": "Localhost", "localhostProfile": "profiles/voxcpm.json"},
    ),
    ObjectCase("pss-kernel-options", f"{RUNTIME}.securityContext.procMount", "Unmasked", "Default"),
    ObjectCase(
        "pss-kernel-options",
        f"{POD}.securityContext.sysctls",
        [{"name": "kernel.msgmax", "value": "65536"}],
        [{"name": "net.ipv4.tcp_keepalive_time", "value": "600"}],
    ),
    ObjectCase("resources", f"{PRELOAD}.resources.limits", {"cpu": "2"}, {"cpu": "2", "memory": "4Gi"}),
    ObjectCase("probes", f"{RUNTIME}.readinessProbe", DELETE, {"httpGet": {"path": "/ready", "port": "http"}}),
    ObjectCase(
        "image-tag",
        f"{RUNTIME}.image",
        "ghcr.io/voxdeploy/runtime-cloud",
        "registry.local:5000/voxdeploy/runtime-cloud:0.1.0",
        stack="staging",
    ),
    ObjectCase("pdb-min-replicas", "spec.minAvailable", 2, 1, kind="PodDisruptionBudget"),
    ObjectCase("gpu-toleration", f"{POD}.tolerations", DELETE, [GPU_TOLERATION]),
    ObjectCase("references", f"{POD}.serviceAccountName", "nobody", "voxcpm"),
    ObjectCase("references", f"{POD}.volumes.0.configMap.name", "voxcpm-settings", "voxcpm-runtime"),
    ObjectCase("references", "spec.ports.0.targetPort", "grpc", "http", kind="Service"),
    ObjectCase("references", "spec.selector", {"app": "other"}, {"app.kubernetes.io/name": "voxcpm"}, kind="Service"),
    ObjectCase("references", "spec.endpoints.0.port", "web", "http", kind="ServiceMonitor"),
    ObjectCase("references", "spec.scaleTargetRef.name", "vox", "voxcpm", kind="HorizontalPodAutoscaler"),
    # An edge pod pinned to its own pool (whose taint it tolerates) needs no GPU toleration; unpinned, it does.
    ObjectCase(
        "gpu-toleration",
        f"{POD}.nodeSelector",
        DELETE,
        {"voxdeploy.io/edge-pool": "jetson"},
        stack="edge",
        kind="DaemonSet",
        name="edge-jetson",
    ),
]


@dataclass(frozen=True)
class StackCase:
    """Set `voxdeploy:<key>` of a bundled stack to `broken` (one `severity` violation of `rule`), then `fixed`."""

    rule: str
    stack: str
    key: str
    broken: object
    fixed: object
    severity: str = "error"
    objects: tuple[str, ...] = ("Deployment/voxcpm",)
    """Kind/name of each object the broken stack is reported on."""


DIGEST = "sha256:" + "ab" * 32
STACK_CASES = [
    StackCase(
        "image-tag",
        "staging",
        "cloud.pod.image.tag",
        "latest",
        "0.1.0",
        # the load-test Jobs run the cloud tier's image
        objects=("Deployment/voxcpm", "Job/voxcpm-loadtest-master", "Job/voxcpm-loadtest-worker"),
    ),
    StackCase("image-digest", "prod", "cloud.pod.image.digest", None, DIGEST, severity="warning"),
    StackCase("gpu-quota", "prod", "policy", {"gpuQuota": 8}, {"gpuQuota": 10}),
    StackCase(
        "prometheus-selector",
        "prod",
        "observability.selectorLabels",
        {},
        {"release": "monitoring"},
        severity="warning",
        objects=("PrometheusRule/voxcpm", "ServiceMonitor/voxcpm"),
    ),
]


def test_rules_are_exactly_the_ids_stacks_may_name() -> None:
    assert [rule.id for rule in RULES] == list(RULE_IDS)


def test_every_rule_has_a_breaking_case() -> None:
    assert {case.rule for case in OBJECT_CASES} | {case.rule for case in STACK_CASES} == set(RULE_IDS)


@pytest.mark.parametrize("stack", STACKS)
def test_bundled_stacks_have_no_unwaived_errors(stack: str) -> None:
    config, objects = built(stack)
    assert unwaived_errors(config, objects) == []


def test_prod_warns_only_that_its_images_lack_a_digest() -> None:
    config, objects = built("prod")
    assert [(v.rule, v.object, v.severity) for v in evaluate(config, objects)] == [
        ("image-digest", "Deployment/voxcpm/voxcpm", "warning")
    ]


@pytest.mark.parametrize("case", OBJECT_CASES, ids=lambda c: f"{c.rule}-{c.stack}-{c.path.rsplit('.', 1)[-1]}")
def test_a_broken_object_trips_its_rule_and_the_fix_clears_it(case: ObjectCase) -> None:
    config, objects = built(case.stack)
    target = find(objects, case.kind, case.name)
    put(target, case.path, case.broken)
    found = of_rule(evaluate(config, objects), case.rule)
    assert [(v.object, v.severity) for v in found] == [(f"{case.kind}/{config.namespace}/{case.name}", "error")]
    put(target, case.path, case.fixed)
    assert of_rule(evaluate(config, objects), case.rule) == []
    assert unwaived_errors(config, objects) == []


@pytest.mark.parametrize("case", STACK_CASES, ids=lambda c: c.rule)
def test_a_broken_stack_trips_its_rule_and_the_fix_clears_it(case: StackCase) -> None:
    config, objects = built(case.stack, case.key, case.broken)
    found = of_rule(evaluate(config, objects), case.rule)
    expected = [(f"{ref.split('/')[0]}/{config.namespace}/{ref.split('/')[1]}", case.severity) for ref in case.objects]
    assert sorted((v.object, v.severity) for v in found) == sorted(expected)
    config, objects = built(case.stack, case.key, case.fixed)
    assert of_rule(evaluate(config, objects), case.rule) == []


def test_messages_say_what_is_wrong_and_what_to_change() -> None:
    config, objects = built("prod")
    put(find(objects, "Deployment", "voxcpm"), f"{RUNTIME}.securityContext.allowPrivilegeEscalation", DELETE)
    [violation] = of_rule(evaluate(config, objects), "pss-privilege-escalation")
    assert "container runtime" in violation.message
    assert "allowPrivilegeEscalation: false" in violation.message


def test_gpu_quota_counts_hpa_max_times_gpus_per_pod_on_prod() -> None:
    config, objects = built("prod", "policy", {"gpuQuota": 8})
    [violation] = of_rule(evaluate(config, objects), "gpu-quota")
    assert violation.object == "Deployment/voxcpm/voxcpm"
    assert "needs 10 GPUs, over policy.gpuQuota 8" in violation.message
    assert "10 pods (HorizontalPodAutoscaler/voxcpm/voxcpm) x 1 GPU = 10" in violation.message
    assert "most replicas of Deployment/voxcpm/voxcpm to 8" in violation.message


def test_gpu_quota_leaves_daemonsets_out() -> None:
    """hybrid: cloud 6 x 1 GPU; the Jetson DaemonSet requests a GPU per node but its node count is unknown."""
    config, objects = built("hybrid", "policy", {"gpuQuota": 6})
    assert of_rule(evaluate(config, objects), "gpu-quota") == []
    config, objects = built("hybrid", "policy", {"gpuQuota": 5})
    [violation] = of_rule(evaluate(config, objects), "gpu-quota")
    assert "needs 6 GPUs" in violation.message and "edge-jetson" not in violation.message


def test_gpu_toleration_follows_the_configured_gpu_resource() -> None:
    """An AMD cloud tier keeps the default nvidia.com/gpu toleration: its pods would never reach an AMD node."""
    pod = read_stack_file("prod")["config"]["voxdeploy:cloud"]["pod"]
    config, objects = built("prod", "cloud.pod", {**pod, "gpuResourceName": "amd.com/gpu"})
    [violation] = of_rule(evaluate(config, objects), "gpu-toleration")
    assert "requests 1 amd.com/gpu" in violation.message and "key: amd.com/gpu" in violation.message


@pytest.mark.parametrize(
    ("budget", "fewest", "trips"),
    [
        ({"minAvailable": "50%"}, 2, False),
        ({"minAvailable": "100%"}, 2, True),
        ({"maxUnavailable": 0}, 2, True),
        ({"maxUnavailable": "10%"}, 2, False),
        ({"minAvailable": 1}, 1, True),
    ],
)
def test_pdb_is_judged_at_the_hpa_minimum(budget: dict, fewest: int, trips: bool) -> None:
    config, objects = built("prod")
    pdb = find(objects, "PodDisruptionBudget", "voxcpm")
    pdb["spec"] = {**budget, "selector": pdb["spec"]["selector"]}
    find(objects, "HorizontalPodAutoscaler", "voxcpm")["spec"]["minReplicas"] = fewest
    found = of_rule(evaluate(config, objects), "pdb-min-replicas")
    assert bool(found) is trips
    if trips:
        assert f"fewest replicas ({fewest}: Deployment/voxcpm/voxcpm by HorizontalPodAutoscaler" in found[0].message


def test_a_keda_scaled_object_bounds_replicas_like_an_hpa() -> None:
    config, objects = built("prod", "policy", {"gpuQuota": 10})
    objects.remove(find(objects, "HorizontalPodAutoscaler", "voxcpm"))
    objects.append(
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "voxcpm", "namespace": "voxcpm"},
            "spec": {"scaleTargetRef": {"name": "voxcpm"}, "minReplicaCount": 1, "maxReplicaCount": 12},
        }
    )
    found = {v.rule: v for v in evaluate(config, objects) if v.severity == "error"}
    assert set(found) == {"gpu-quota"}, "maxUnavailable 1 still lets a drain evict the one pod a minimum of 1 leaves"
    assert "12 pods (ScaledObject/voxcpm/voxcpm) x 1 GPU = 12" in found["gpu-quota"].message


def test_pdb_selector_expressions_are_honoured() -> None:
    config, objects = built("prod")
    pdb = find(objects, "PodDisruptionBudget", "voxcpm")
    pdb["spec"] = {
        "minAvailable": 2,
        "selector": {
            "matchExpressions": [
                {"key": "app.kubernetes.io/component", "operator": "In", "values": ["cloud-inference"]}
            ]
        },
    }
    assert len(of_rule(evaluate(config, objects), "pdb-min-replicas")) == 1
    pdb["spec"]["selector"]["matchExpressions"][0]["operator"] = "NotIn"
    assert of_rule(evaluate(config, objects), "pdb-min-replicas") == []


def test_dev_may_run_latest() -> None:
    config, objects = built("dev", "cloud.pod.image.tag", "latest")
    assert of_rule(evaluate(config, objects), "image-tag") == []


@pytest.mark.parametrize(
    ("image", "parts"),
    [
        ("ghcr.io/voxdeploy/runtime-cloud:0.1.0", ("0.1.0", None)),
        ("ghcr.io/voxdeploy/runtime-cloud", (None, None)),
        ("registry.local:5000/voxdeploy/runtime-cloud", (None, None)),
        (f"ghcr.io/voxdeploy/runtime-cloud@{DIGEST}", (None, DIGEST)),
        (f"ghcr.io/voxdeploy/runtime-cloud:latest@{DIGEST}", ("latest", DIGEST)),
    ],
)
def test_image_references_are_split_into_tag_and_digest(image: str, parts: tuple) -> None:
    assert image_parts(image) == parts


def test_a_stack_can_regrade_a_rule() -> None:
    config, objects = built("prod", "policy", {"severities": {"image-digest": "error"}})
    assert [v.rule for v in unwaived_errors(config, objects)] == ["image-digest"]
    config, objects = built("prod", "policy", {"gpuQuota": 8, "severities": {"gpu-quota": "warning"}})
    assert unwaived_errors(config, objects) == []
    assert [v.severity for v in of_rule(evaluate(config, objects), "gpu-quota")] == ["warning"]
