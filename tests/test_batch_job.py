"""A stack's `batch:` section as the cluster gets it: an Indexed Job of `voxdeploy batch run` pods against the cloud
Service (every field from the stack, Kubernetes' own schema, the runtime pods' restrictions), its NetworkPolicy,
what `validate` refuses (naming the field), and the cloud tier scaled to zero between batches: KEDA's triggers, and
what their queries read in Prometheus while the tier is at zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.alert_cases import gauge, scraped
from tests.support.batch_stacks import BATCH, KEY, SMALL, at_zero, with_batch
from tests.support.observability import binary, run_unit_tests
from tests.support.pulumi_mocks import run_program
from tests.support.schemas import validate_object
from tests.support.stacks import config_of, mutated, refusals, the
from voxdeploy.cli import build_parser
from voxdeploy.cli.common import EXIT_USAGE
from voxdeploy.contracts import metrics as catalog
from voxdeploy.contracts.api import API_KEY_ENV
from voxdeploy.infra.builders import batch, build_objects, cloud
from voxdeploy.infra.observability import external


def selects(selector: dict, labels: dict) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def test_the_job_runs_every_shard_of_the_input_against_the_cloud_service() -> None:
    config = config_of(with_batch())
    job = the(build_objects(config), "Job", "voxcpm-batch")
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 8, 2)
    assert (spec["backoffLimitPerIndex"], spec["maxFailedIndexes"]) == (2, 3)
    assert (spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (43200, 3600)
    assert "backoffLimit" not in spec, "per index: the Job's own limit defaults to unlimited"
    assert spec["podFailurePolicy"]["rules"] == [
        {"action": "FailIndex", "onExitCodes": {"containerName": "batch", "operator": "In", "values": [2]}},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
    ]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never", "a pod failure policy requires it"
    (container,) = pod["containers"]
    assert container["args"] == [
        "batch",
        "run",
        "--input",
        "/batch/inputs/requests.jsonl",
        "--output",
        "/batch/results",
        "--host",
        "http://voxcpm.voxcpm-staging.svc.cluster.local:8000",
        "--concurrency",
        "6",
        "--shards",
        "8",
    ]
    assert container["env"] == [{"name": API_KEY_ENV, "valueFrom": {"secretKeyRef": KEY}}]
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    assert {m["mountPath"]: m["name"] for m in container["volumeMounts"]} == {"/batch": "batch", "/tmp": "tmp"}
    assert not any(m.get("readOnly") for m in container["volumeMounts"]), "results are written to the volume"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["batch"]["persistentVolumeClaim"] == {"claimName": "batch-data"}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    assert job["metadata"]["annotations"] == {batch.PULUMI_SKIP_AWAIT: "true"}, "pulumi up starts it, never waits"


def test_the_runner_takes_the_jobs_command_line() -> None:
    """The argv is `voxdeploy batch run`'s own (the image's entrypoint execs voxdeploy), its shard from the
    environment Kubernetes sets; the exit status the pod failure policy fails a shard on is the runner's usage one."""
    config = config_of(with_batch())
    args = build_parser().parse_args(batch.run_args(config))
    assert (str(args.input), str(args.output_dir)) == ("/batch/inputs/requests.jsonl", "/batch/results")
    assert (args.host, args.concurrency, args.shards, args.shard_index) == (batch.cloud_url(config), 6, 8, None)
    assert batch.BAD_INPUT_EXIT_CODE == EXIT_USAGE


def test_the_pods_are_the_runtime_pods_restricted_kind() -> None:
    objects = build_objects(config_of(with_batch()))
    job, runtime = the(objects, "Job", "voxcpm-batch"), the(objects, "Deployment", "voxcpm")
    pod, serving = job["spec"]["template"]["spec"], runtime["spec"]["template"]["spec"]
    assert pod["securityContext"] == serving["securityContext"]
    assert pod["containers"][0]["securityContext"] == serving["containers"][0]["securityContext"]
    assert pod["containers"][0]["image"] == serving["containers"][0]["image"] == "ghcr.io/voxdeploy/runtime-cloud:0.1.0"
    assert pod["automountServiceAccountToken"] is False
    account = the(objects, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert labels == job["metadata"]["labels"] == batch.identity(config_of(with_batch())).labels
    assert (labels["app.kubernetes.io/component"], labels["app.kubernetes.io/part-of"]) == ("batch", "voxdeploy")
    assert not any(c.get("ports") for c in pod["containers"]), "it serves nothing"


def test_unset_fields_are_left_to_kubernetes() -> None:
    document = with_batch({**SMALL, "ttlSecondsAfterFinished": None})
    document["config"]["voxdeploy:auth"] = {"required": False}
    del document["config"]["voxdeploy:batch"]["apiKeySecret"]
    spec = the(build_objects(config_of(document)), "Job", "voxcpm-batch")["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimitPerIndex"]) == (2, 1, 3)
    assert not {"maxFailedIndexes", "activeDeadlineSeconds", "ttlSecondsAfterFinished"} & set(spec)
    (container,) = spec["template"]["spec"]["containers"]
    assert "env" not in container, "no keys checked, no key sent"
    assert container["args"][container["args"].index("--concurrency") + 1] == "4"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    defaults = the(build_objects(config_of(with_batch(SMALL))), "Job", "voxcpm-batch")["spec"]
    assert defaults["ttlSecondsAfterFinished"] == 86400


def test_no_batch_section_renders_nothing() -> None:
    objects = build_objects(config_of(mutated("staging", "batch", {"enabled": False})))
    assert not [o for o in objects if o["kind"] in ("Job", "ServiceAccount") and "batch" in o["metadata"]["name"]]


@pytest.mark.parametrize("zero", [False, True], ids=["batch", "batch-at-zero"])
def test_every_object_passes_the_real_schemas(zero: bool) -> None:
    """Kubernetes 1.30's own schema (backoffLimitPerIndex and podFailurePolicy are in it: beta since 1.29, on by
    default) and KEDA's CRD, both strict."""
    document = with_batch()
    for obj in build_objects(config_of(at_zero(document) if zero else document)):
        validate_object(obj)


def test_the_batch_pods_reach_the_cloud_pods_and_nothing_reaches_them() -> None:
    config = config_of(with_batch())
    objects = build_objects(config)
    policy = the(objects, "NetworkPolicy", "voxcpm-batch")
    labels = the(objects, "Job", "voxcpm-batch")["spec"]["template"]["metadata"]["labels"]
    assert selects(policy["spec"]["podSelector"], labels)
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in policy["spec"]
    dns, runtime = policy["spec"]["egress"]
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
    assert runtime == {
        "to": [{"podSelector": {"matchLabels": cloud.identity(config).selector}}],
        "ports": [{"protocol": "TCP", "port": config.cloud.server.port}],
    }
    serving = the(objects, "NetworkPolicy", "voxcpm")
    api = [rule for rule in serving["spec"]["ingress"] if rule["ports"] == [{"protocol": "TCP", "port": 8000}]]
    (admitted,) = api
    assert any("namespaceSelector" not in peer and selects(peer["podSelector"], labels) for peer in admitted["from"]), (
        "the cloud tier admits the batch pods as every pod of its namespace, the router's too"
    )


def test_pulumi_registers_the_job_as_rendered() -> None:
    keys = with_batch()["config"]
    mocks, _ = run_program("batch", keys)
    (job,) = [
        args
        for args in mocks.resources
        if args.typ == "kubernetes:batch/v1:Job" and args.inputs["metadata"]["name"] == "voxcpm-batch"
    ]
    rendered = the(build_objects(config_of(with_batch())), "Job", "voxcpm-batch")
    assert job.inputs["metadata"] == rendered["metadata"]
    assert job.inputs["spec"]["podFailurePolicy"]["rules"][1] == rendered["spec"]["podFailurePolicy"]["rules"][1]


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"parallelism": 9}, "batch.parallelism", "batch.shards (8)"),
        ({"maxFailedIndexes": 9}, "batch.maxFailedIndexes", "batch.shards (8)"),
        ({"volumeClaim": None}, "batch.volumeClaim", "/batch"),
        ({"apiKeySecret": None}, "batch.apiKeySecret", "{name: voxcpm-api-keys, key: batch}"),
        ({"input": "../etc/passwd"}, "batch.input", "inside the batch volume"),
        ({"input": "/data/requests.jsonl"}, "batch.input", "inside the batch volume"),
        ({"shards": 0}, "batch.shards", "greater than or equal to 1"),
    ],
)
def test_validate_refuses_a_batch_no_shard_could_finish(change: dict, path: str, words: str) -> None:
    section = {key: value for key, value in {**BATCH, **change}.items() if value is not None}
    found = refusals(with_batch(section))
    assert path in found and any(words in message for message in found[path]), found


def test_a_batch_needs_the_cloud_tier() -> None:
    document = with_batch(base="edge")
    assert "batch.enabled" in refusals(document)


def test_scaling_to_zero_needs_keda() -> None:
    document = at_zero(with_batch())
    document["config"]["voxdeploy:cloud"]["autoscaling"]["signal"] = {"metric": "cpu"}
    (message,) = refusals(document)["cloud.autoscaling.minReplicas"]
    assert "HPA cannot scale to zero" in message and "backend: keda" in message
    document["config"]["voxdeploy:cloud"]["autoscaling"]["signal"] = {"metric": "queued", "backend": "hpaCustom"}
    assert "cloud.autoscaling.minReplicas" in refusals(document)


def test_scaling_to_zero_needs_the_batch_that_wakes_it() -> None:
    (message,) = refusals(at_zero(mutated("staging", "batch", {"enabled": False})))["cloud.autoscaling.minReplicas"]
    assert "enable batch" in message


def test_scaling_to_zero_is_refused_where_the_slo_wants_interactive_latency() -> None:
    (message,) = refusals(at_zero(with_batch(), latency=2))["cloud.autoscaling.minReplicas"]
    assert "slo.p95LatencySeconds (2 s)" in message and "cloud.pod.probes.maxStartupSeconds 900 s" in message
    config_of(at_zero(with_batch(), latency=900))  # a batch tier's SLO: a cold start fits


def scaled_object(document: dict) -> dict:
    return the(build_objects(config_of(document)), "ScaledObject", "voxcpm")


def test_at_zero_the_batch_job_wakes_the_tier_and_the_load_keeps_it() -> None:
    spec = scaled_object(at_zero(with_batch()))["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 4)
    assert "idleReplicaCount" not in spec, "KEDA wants it below minReplicaCount"
    load, job = spec["triggers"]
    assert load["metadata"]["activationThreshold"] == "0" and load["metadata"]["ignoreNullValues"] == "false"
    assert load["metadata"]["threshold"] == "40", "the load signal's own target still sizes the tier"
    query = load["metadata"]["query"]
    assert catalog.IN_FLIGHT.name in query and external.DEPLOYMENT_AVAILABLE_REPLICAS in query
    assert 'deployment="voxcpm"' in query
    assert job["metricType"] == "AverageValue"
    assert job["metadata"] | {"serverAddress": None} == {
        "serverAddress": None,
        "query": 'sum (kube_job_status_active{namespace="voxcpm-staging",job_name="voxcpm-batch"}) > bool 0',
        "threshold": "1",
        "activationThreshold": "0",
        "ignoreNullValues": "true",
    }
    assert job["metadata"]["serverAddress"] == load["metadata"]["serverAddress"]


def test_above_zero_the_scaled_object_is_as_before() -> None:
    (trigger,) = scaled_object(with_batch())["spec"]["triggers"]
    assert "activationThreshold" not in trigger["metadata"]
    assert (
        trigger["metadata"]["query"]
        == 'sum (voxdeploy_requests_in_flight{namespace="voxcpm-staging",service="voxcpm"})'
    )


def test_the_triggers_read_what_they_must_at_zero_and_above(tmp_path: Path) -> None:
    """Prometheus' own engine (promtool) on what kube-state-metrics and the pods export: at zero with a Job running,
    the load reads 0 (not nothing, which would be an error and the fallback replicas) and the Job 1; at zero with
    no Job, both 0, so the tier stays down; pods up but unscraped is still nothing (an error), as before."""
    config = config_of(at_zero(with_batch()))
    load, job = scaled_object(at_zero(with_batch()))["spec"]["triggers"]
    namespace = config.namespace

    def available(value: float) -> dict[str, str]:
        labels = {"namespace": namespace, "deployment": "voxcpm"}
        return gauge(external.DEPLOYMENT_AVAILABLE_REPLICAS, labels, value).promtool(0)

    def active(value: float) -> dict[str, str]:
        return gauge(external.JOB_ACTIVE, {"namespace": namespace, "job_name": "voxcpm-batch"}, value).promtool(0)

    def in_flight(pod: str, value: float) -> dict[str, str]:
        labels = {**scraped(namespace, "voxcpm", pod), "engine": "vllm-omni"}
        return gauge(catalog.IN_FLIGHT.name, labels, value).promtool(0)

    def reads(name: str, series: list[dict[str, str]], load_value: float | None, job_value: float | None) -> dict:
        """What each trigger's query answers over `series`: a value, or nothing (None)."""
        checks = [
            {
                "expr": trigger["metadata"]["query"],
                "eval_time": "0m",
                "exp_samples": [] if value is None else [{"labels": "{}", "value": value}],
            }
            for trigger, value in ((load, load_value), (job, job_value))
        ]
        return {"name": name, "interval": "1m", "input_series": series, "promql_expr_test": checks}

    tests = [
        reads("at zero, a batch running", [available(0), active(2)], 0, 1),
        reads("at zero, no Job (KEDA reads nothing as 0: ignoreNullValues true)", [available(0)], 0, None),
        reads("at zero, the batch finished", [available(0), active(0)], 0, 0),
        reads("serving a batch", [available(2), active(2), in_flight("a", 7), in_flight("b", 5)], 12, 1),
        reads("pods up, no series: an error, as before", [available(1), active(1)], None, 1),
    ]
    assert "SUCCESS" in run_unit_tests(binary("promtool"), config, tests, tmp_path)
