"""A stack's `loadtest:` section as the cluster gets it: Locust distributed over a master Job and a worker Job against
one of the stack's own Services, judged by the stack's SLO (every field from the stack, Kubernetes' own schema, the
runtime pods' restrictions, the policy rules), the master's Service and the NetworkPolicies (who may reach whom),
the same objects under Pulumi, the command lines voxdeploy's own CLI takes, and what `validate` refuses (naming the
field)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.loadtest_stacks import KEY, LOADTEST, SMALL, with_loadtest
from tests.support.pulumi_mocks import run_program
from tests.support.schemas import validate_object
from tests.support.stacks import config_of, mutated, read_stack_file, refusals, the
from voxdeploy.cli import build_parser
from voxdeploy.contracts.api import API_KEY_ENV
from voxdeploy.contracts.loadtest import LOCUST_MASTER_PORT
from voxdeploy.infra.builders import batch, build_groups, build_objects, cloud, hybrid, loadtest
from voxdeploy.infra.config import load_stack
from voxdeploy.infra.config.loadtest import DEADLINE_MARGIN_SECONDS
from voxdeploy.infra.policy import evaluate

RERUN = {
    batch.PULUMI_SKIP_AWAIT: "true",
    # the annotations as Flux (kustomize-controller PR 787) and Argo CD (docs/user-guide/sync-options.md, Force Sync)
    # spell them: a Job's template cannot be patched, so a changed gate is recreated, which runs it
    "kustomize.toolkit.fluxcd.io/force": "enabled",
    "argocd.argoproj.io/sync-options": "Force=true,Replace=true",
}


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def pod_of(objects: list[dict], kind: str, name: str) -> dict:
    obj = the(objects, kind, name)
    return {"namespace": obj["metadata"]["namespace"], "labels": obj["spec"]["template"]["metadata"]["labels"]}


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_every_field_reaches_the_master() -> None:
    config = config_of(with_loadtest())
    objects = build_objects(config)
    job = the(objects, "Job", "gate-master")
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 0), "a failed gate is final"
    assert (spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (7200, 600)
    assert job["metadata"]["annotations"] == RERUN, "pulumi up starts it, never waits; GitOps recreates it"
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["serviceAccountName"]) == ("Never", "gate")
    (container,) = pod["containers"]
    assert container["args"] == [
        "loadtest",
        "--stack",
        "/etc/voxdeploy/loadtest/Pulumi.staging.yaml",
        "--host",
        "http://voxcpm.voxcpm-staging.svc.cluster.local:8000",
        "--users",
        "120",
        "--spawn-rate",
        "7.5",
        "--duration",
        "1h30m",
        "--scenario",
        "burst",
        "--sizes",
        "short=0.6,long=0.4",
        "--languages",
        "en=1",
        "--stream-ratio",
        "0.25",
        "--expect-workers",
        "3",
        "--master-bind-port",
        "5557",
        "--report",
        "/results",
        "--log-summary",
    ]
    assert (container["image"], container["imagePullPolicy"]) == ("ghcr.io/voxdeploy/loadtest:0.2.0", "Always")
    assert container["env"] == [{"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": KEY}}]
    assert container["resources"] == {
        "requests": {"cpu": "300m", "memory": "384Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert set(mounts) == {"/etc/voxdeploy/loadtest", "/results", "/tmp"}
    assert mounts["/etc/voxdeploy/loadtest"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/results"]["name"]]["persistentVolumeClaim"] == {"claimName": "loadtest-reports"}
    assert volumes[mounts["/etc/voxdeploy/loadtest"]["name"]]["configMap"] == {"name": "gate-stack"}
    assert volumes[mounts["/tmp"]["name"]] == {"name": "tmp", "emptyDir": {}}
    assert not container.get("ports"), "Locust's socket is no HTTP a probe could ask; the Service names it by number"


def test_every_field_reaches_the_workers() -> None:
    config = config_of(with_loadtest())
    job = the(build_objects(config), "Job", "gate-worker")
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"]) == (3, 3)
    assert spec["backoffLimit"] == 3, "a worker lost mid-run is replaced; the master gives it its share"
    assert (spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (7200, 600)
    assert job["metadata"]["annotations"] == RERUN
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["serviceAccountName"]) == ("Never", "gate")
    (container,) = pod["containers"]
    assert container["args"] == ["loadtest", "--worker", "--master-host", "gate-master", "--master-port", "5557"]
    assert container["image"] == "ghcr.io/voxdeploy/loadtest:0.2.0"
    assert container["env"] == [{"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": KEY}}]
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "1", "memory": "1536Mi"},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]


def test_the_master_service_selects_the_master_alone() -> None:
    objects = build_objects(config_of(with_loadtest()))
    service = the(objects, "Service", "gate-master")
    assert service["spec"]["ports"] == [
        {"name": "locust", "port": LOCUST_MASTER_PORT, "targetPort": LOCUST_MASTER_PORT, "protocol": "TCP"}
    ]
    chosen = [
        o["metadata"]["name"]
        for o in objects
        if o["kind"] in ("Deployment", "DaemonSet", "Job")
        and selects({"matchLabels": service["spec"]["selector"]}, o["spec"]["template"]["metadata"]["labels"])
    ]
    assert chosen == ["gate-master"]
    worker = the(objects, "Job", "gate-worker")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert (flag(worker, "--master-host"), int(flag(worker, "--master-port"))) == (service["metadata"]["name"], 5557)


def test_the_defaults() -> None:
    """The target tier's image, an emptyDir for the reports (the summary goes to the log), the duration plus its
    margin as the deadline, the load test's own mixes, and no key where no pod checks keys."""
    document = with_loadtest({"enabled": True, "ttlSecondsAfterFinished": None})
    document["config"]["voxdeploy:auth"] = {"required": False}
    config = config_of(document)
    objects = build_objects(config)
    names = {o["metadata"]["name"] for o in objects if "loadtest" in o["metadata"]["name"]}
    assert names == {"voxcpm-loadtest", "voxcpm-loadtest-stack", "voxcpm-loadtest-master", "voxcpm-loadtest-worker"}
    master, worker = the(objects, "Job", "voxcpm-loadtest-master"), the(objects, "Job", "voxcpm-loadtest-worker")
    for job in (master, worker):
        spec = job["spec"]
        assert spec["activeDeadlineSeconds"] == 300 + DEADLINE_MARGIN_SECONDS, "5m and the margin"
        assert "ttlSecondsAfterFinished" not in spec
        (container,) = spec["template"]["spec"]["containers"]
        assert "env" not in container, "no keys checked, no key sent"
        assert container["image"] == "ghcr.io/voxdeploy/runtime-cloud:0.1.0", "the cloud tier's, the batch Job's"
    assert (worker["spec"]["completions"], worker["spec"]["parallelism"]) == (2, 2)
    args = master["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--sizes" not in args and "--languages" not in args
    assert [flag(args, f) for f in ("--users", "--spawn-rate", "--duration", "--scenario", "--stream-ratio")] == [
        "50",
        "10",
        "5m",
        "steady",
        "0.5",
    ]
    volumes = {v["name"]: v for v in master["spec"]["template"]["spec"]["volumes"]}
    assert volumes["results"] == {"name": "results", "emptyDir": {}}
    assert master["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    kept = the(build_objects(config_of(with_loadtest(SMALL))), "Job", "voxcpm-loadtest-master")["spec"]
    assert kept["ttlSecondsAfterFinished"] == 86400


def test_the_router_as_target() -> None:
    document = with_loadtest({**SMALL, "target": "router"}, base="hybrid")
    config = config_of(document)
    args = the(build_objects(config), "Job", "voxcpm-loadtest-master")["spec"]["template"]["spec"]["containers"][0]
    assert flag(args["args"], "--host") == hybrid.service_url(config, config.hybrid.name, config.hybrid.server.port)
    assert args["image"] == config.hybrid.image.reference


def test_master_job_spec_is_the_master_jobs_spec() -> None:
    """What an Argo Rollouts AnalysisTemplate `job` metric will embed is the rendered Job's spec, whole."""
    config = config_of(with_loadtest())
    assert loadtest.master_job_spec(config) == the(build_objects(config), "Job", "gate-master")["spec"]


def test_a_changed_stack_runs_the_gate_again_and_an_unchanged_one_does_not() -> None:
    """pulumi-kubernetes replaces a Job whose .spec.template changed (provider/pkg/provider/diff.go, batch Job's
    forceNew: .spec.template), which runs it again; the stack's digest in both templates is what changes."""

    def templates(document: dict) -> list[dict]:
        objects = build_objects(config_of(document))
        return [the(objects, "Job", name)["spec"]["template"] for name in ("gate-master", "gate-worker")]

    base = templates(with_loadtest())
    assert templates(with_loadtest()) == base, "the same stack, the same Jobs: nothing runs again"
    new_image = with_loadtest()
    new_image["config"]["voxdeploy:cloud"]["pod"]["image"]["tag"] = "0.2.0"  # the release under test, not the test's
    stricter = with_loadtest()
    stricter["config"]["voxdeploy:slo"]["p95Rtf"] = 0.25
    annotation = loadtest.STACK_HASH_ANNOTATION
    for document in (new_image, stricter):
        for before, after in zip(base, templates(document), strict=True):
            assert before["metadata"]["annotations"][annotation] != after["metadata"]["annotations"][annotation]


def test_the_master_judges_by_the_stacks_own_slo(tmp_path: Path) -> None:
    """The ConfigMap's file, as the master's `--stack` reads it (the loader itself), gives the stack's SloTargets;
    named after the environment, so its reports name the stack."""
    for document in (read_stack_file("staging"), with_loadtest()):
        config = config_of(document)
        objects = build_objects(config)
        job = the(objects, "Job", f"{config.loadtest.name}-master")
        (container,) = job["spec"]["template"]["spec"]["containers"]
        stack = Path(flag(container["args"], "--stack"))
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(stack.parent))
        volume = next(v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
        config_map = the(objects, "ConfigMap", volume["configMap"]["name"])
        (tmp_path / stack.name).write_text(config_map["data"][stack.name], encoding="utf-8")
        loaded = load_stack(str(tmp_path / stack.name))
        assert loaded.config.slo == config.slo
        assert loaded.name == config.environment == "staging"


def test_the_master_command_is_voxdeploys_own() -> None:
    """The master's and the workers' argv parse with the CLI the image runs (its entrypoint execs voxdeploy).

    Needs `loadtest --expect-workers/--master-bind-port/--log-summary` and `--worker/--master-host/--master-port`.
    """
    config = config_of(with_loadtest())
    args = build_parser().parse_args(loadtest.master_args(config))
    assert (args.stack, args.host, args.users, args.spawn_rate) == (
        "/etc/voxdeploy/loadtest/Pulumi.staging.yaml",
        loadtest.target_url(config),
        120,
        7.5,
    )
    assert (args.duration, args.scenario, args.sizes, args.languages, args.stream_ratio) == (
        "1h30m",
        "burst",
        "short=0.6,long=0.4",
        "en=1",
        0.25,
    )
    assert (args.expect_workers, args.master_bind_port, str(args.report), args.log_summary) == (
        3,
        LOCUST_MASTER_PORT,
        "/results",
        True,
    )
    worker = build_parser().parse_args(loadtest.worker_args(config))
    assert (worker.worker, worker.master_host, worker.master_port) == (True, "gate-master", LOCUST_MASTER_PORT)


def test_the_pods_are_the_runtime_pods_restricted_kind() -> None:
    config = config_of(with_loadtest())
    objects = build_objects(config)
    serving = the(objects, "Deployment", "voxcpm")["spec"]["template"]["spec"]
    account = the(objects, "ServiceAccount", "gate")
    assert account["automountServiceAccountToken"] is False
    for name in ("gate-master", "gate-worker"):
        job = the(objects, "Job", name)
        pod = job["spec"]["template"]["spec"]
        assert pod["securityContext"] == serving["securityContext"]
        assert pod["containers"][0]["securityContext"] == serving["containers"][0]["securityContext"]
        assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "gate"
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert labels == job["metadata"]["labels"]
        assert (labels["app.kubernetes.io/component"], labels["app.kubernetes.io/part-of"]) == ("loadtest", "voxdeploy")


@pytest.mark.parametrize("variant", ["staging", "every-field", "router"])
def test_every_object_passes_the_real_schemas_and_the_policy(variant: str) -> None:
    document = {
        "staging": lambda: read_stack_file("staging"),
        "every-field": with_loadtest,
        "router": lambda: with_loadtest({**SMALL, "target": "router"}, base="hybrid"),
    }[variant]()
    config = config_of(document)
    objects = build_objects(config)
    (group,) = [g for g in build_groups(config) if g.concern == "loadtest"]
    assert [o["kind"] for o in group.objects] == [
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Job",
        "Job",
        "NetworkPolicy",
        "NetworkPolicy",
    ]
    for obj in objects:
        validate_object(obj)
    names = {f"{o['kind']}/{o['metadata']['name']}" for o in group.objects}
    findings = [v for v in evaluate(config, objects) if any(name in v.object for name in names)]
    assert findings == []


def test_no_loadtest_section_renders_nothing() -> None:
    config = config_of(mutated("staging", "loadtest", {"enabled": False}))
    assert not [g for g in build_groups(config) if g.concern == "loadtest"]
    assert not [o for o in build_objects(config) if "loadtest" in o["metadata"]["name"]]


def admitted(source: dict, target: dict, port: int, policies: list[dict]) -> bool:
    """Whether the target pod's ingress policies let the source pod in on `port` (no policy selecting it with
    Ingress: everything may)."""
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == target["namespace"]
        and "Ingress" in p["spec"]["policyTypes"]
        and selects(p["spec"]["podSelector"], target["labels"])
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            if not any(p["port"] == port and p["protocol"] == "TCP" for p in rule["ports"]):
                continue
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    names = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    if names != source["namespace"]:
                        continue
                elif source["namespace"] != target["namespace"]:
                    continue
                if selects(peer.get("podSelector", {}), source["labels"]):
                    return True
    return False


@pytest.mark.parametrize("target", ["cloud", "router"])
def test_who_may_reach_whom(target: str) -> None:
    """From the rendered policies: the workers reach the master on Locust's port and nothing else does; nothing
    reaches the workers; the target tier's own policy lets both load-test pods in on its API port."""
    document = with_loadtest({**SMALL, "target": target}, base="staging" if target == "cloud" else "hybrid")
    config = config_of(document)
    objects = build_objects(config)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    master, worker = pod_of(objects, "Job", "voxcpm-loadtest-master"), pod_of(objects, "Job", "voxcpm-loadtest-worker")
    if target == "cloud":
        serving, api = pod_of(objects, "Deployment", cloud.identity(config).name), config.cloud.server.port
    else:
        serving, api = pod_of(objects, "Deployment", hybrid.identity(config).name), config.hybrid.server.port
    stranger = {"namespace": master["namespace"], "labels": {"app.kubernetes.io/name": "someone-else"}}
    outside = {"namespace": "elsewhere", "labels": worker["labels"]}
    assert admitted(worker, master, LOCUST_MASTER_PORT, policies)
    assert not admitted(worker, master, api, policies), "the master's Locust port only"
    for source in (serving, stranger, outside, master):
        assert not admitted(source, master, LOCUST_MASTER_PORT, policies)
    for source in (master, serving, stranger):
        for port in (LOCUST_MASTER_PORT, api, 8089):
            assert not admitted(source, worker, port, policies), "a worker serves nothing"
    for source in (master, worker):
        assert admitted(source, serving, api, policies), f"the {target} tier admits the load-test pods"
    assert any(
        "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], serving["labels"]) for p in policies
    ), "the target is confined: the admission above is its policy's, not an open door"


def test_pulumi_registers_the_objects_as_rendered() -> None:
    keys = with_loadtest()["config"]
    mocks, _ = run_program("staging", keys)
    rendered = [o for o in build_objects(config_of(with_loadtest())) if o["metadata"]["name"].startswith("gate")]
    registered = {
        (args.typ.rsplit(":", 1)[-1], args.inputs["metadata"]["name"]): args.inputs
        for args in mocks.resources
        if args.typ.startswith("kubernetes:") and args.inputs.get("metadata", {}).get("name", "").startswith("gate")
    }
    assert set(registered) == {(o["kind"], o["metadata"]["name"]) for o in rendered}
    for obj in rendered:
        inputs = registered[(obj["kind"], obj["metadata"]["name"])]
        assert inputs["metadata"] == obj["metadata"]
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        assert {k: inputs[k] for k in body} == body, obj["metadata"]["name"]


@pytest.mark.parametrize(
    ("base", "change", "path", "words"),
    [
        ("staging", {"target": "router"}, "loadtest.target", "enable hybrid"),
        ("edge", {"apiKeySecret": None}, "loadtest.target", "enable cloud"),
        ("staging", {"workers": 200}, "loadtest.workers", "loadtest.users (120)"),
        ("staging", {"workers": 0}, "loadtest.workers", "greater than or equal to 1"),
        ("staging", {"workers": 1001}, "loadtest.workers", "less than or equal to 1000"),
        ("staging", {"apiKeySecret": None}, "loadtest.apiKeySecret", "{name: voxcpm-api-keys, key: loadtest}"),
        ("staging", {"duration": "5 minutes"}, "loadtest.duration", "not a Locust duration"),
        ("staging", {"duration": "0s"}, "loadtest.duration", "longer than 0 s"),
        ("staging", {"activeDeadlineSeconds": 5400}, "loadtest.activeDeadlineSeconds", "1h30m = 5400 s"),
        ("staging", {"sizes": "short:1"}, "loadtest.sizes", "name=weight"),
        ("staging", {"streamRatio": 1.5}, "loadtest.streamRatio", "less than or equal to 1"),
        ("staging", {"scenario": "benchmark"}, "loadtest.scenario", "steady"),
        ("staging", {"name": "g" * 57}, "loadtest.name", "at most 56"),
        ("staging", {"image": {"repository": "ghcr.io/voxdeploy/loadtest"}}, "loadtest.image.tag", "set a tag"),
    ],
)
def test_validate_refuses_a_load_test_that_cannot_judge(base: str, change: dict, path: str, words: str) -> None:
    section = {key: value for key, value in {**LOADTEST, **change}.items() if value is not None}
    found = refusals(with_loadtest(section, base=base))
    assert path in found and any(words in message for message in found[path]), found


def test_a_tier_at_zero_is_no_target() -> None:
    document = with_loadtest()
    scaling = document["config"]["voxdeploy:cloud"]["autoscaling"]
    scaling["minReplicas"] = 0
    document["config"]["voxdeploy:batch"] = {
        "enabled": True,
        "volumeClaim": "batch-data",
        "apiKeySecret": {"name": "voxcpm-api-keys", "key": "batch"},
    }
    document["config"]["voxdeploy:slo"]["p95LatencySeconds"] = 3600
    (message,) = refusals(document)["loadtest.target"]
    assert "minReplicas 0" in message
