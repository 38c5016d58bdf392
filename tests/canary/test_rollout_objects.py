"""cloud.rollout.strategy canary: the Rollout in the Deployment's place, what points at it, and what validate refuses.
Every object is also checked against Argo Rollouts v1.9.1's CRD schemas by the suite's schema test of each stack
(option "canary"); here against them directly too."""

from __future__ import annotations

from tests.support.schemas import validate_object
from tests.support.stacks import config_of, read_stack_file, refusals, staging_canary, the
from voxdeploy.infra.builders import build_objects, loadtest
from voxdeploy.infra.config.canary import POD_HASH_LABEL
from voxdeploy.infra.observability.runbooks import render_runbooks


def test_staging_renders_a_rollout_instead_of_a_deployment() -> None:
    objects = build_objects(config_of(staging_canary()))
    kinds = {o["kind"] for o in objects}
    assert "Rollout" in kinds and "Deployment" not in kinds
    assert "Job" not in kinds, "the load test is the canary's analysis step: a Job of its own would be a second master"
    rollout = the(objects, "Rollout", "voxcpm")
    for obj in (
        rollout,
        the(objects, "AnalysisTemplate", "voxcpm-slo"),
        the(objects, "AnalysisTemplate", "voxcpm-loadtest"),
    ):
        validate_object(obj)
    canary = rollout["spec"]["strategy"]["canary"]
    assert canary["steps"] == [
        {"setWeight": 10},
        {"analysis": {"templates": [{"templateName": "voxcpm-loadtest"}]}},
        {"pause": {"duration": "10m"}},
        {"setWeight": 50},
        {"pause": {"duration": "10m"}},
    ]
    assert canary["analysis"]["args"] == [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]
    assert rollout["spec"]["progressDeadlineAbort"] is True
    assert the(objects, "ScaledObject", "voxcpm")["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "voxcpm",
    }
    assert the(objects, "ServiceMonitor", "voxcpm")["spec"]["podTargetLabels"] == [POD_HASH_LABEL]


def test_the_load_test_step_runs_the_stacks_own_master_and_workers() -> None:
    config = config_of(staging_canary())
    template = the(build_objects(config), "AnalysisTemplate", "voxcpm-loadtest")
    jobs = {m["name"]: m["provider"]["job"]["spec"] for m in template["spec"]["metrics"]}
    assert jobs == {
        "loadtest-master": loadtest.master_job_spec(config),
        "loadtest-workers": loadtest.worker_job_spec(config),
    }


def test_a_rolling_update_stays_a_deployment() -> None:
    objects = build_objects(config_of(read_stack_file("prod")))
    assert {"Rollout", "AnalysisTemplate"}.isdisjoint(o["kind"] for o in objects)
    assert "podTargetLabels" not in the(objects, "ServiceMonitor", "voxcpm")["spec"]


def test_a_canary_without_the_load_test_step_keeps_the_load_test_jobs() -> None:
    objects = build_objects(config_of(staging_canary(canary={"analysis": {"loadTest": False}})))
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Job"} == {
        "voxcpm-loadtest-master",
        "voxcpm-loadtest-worker",
    }
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "AnalysisTemplate"} == {"voxcpm-slo"}


def test_validate_refuses_a_canary_it_cannot_run() -> None:
    no_loadtest = staging_canary()
    no_loadtest["config"]["voxdeploy:loadtest"]["enabled"] = False
    assert "cloud.rollout.canary.analysis.loadTest" in refusals(no_loadtest)
    at_zero = staging_canary()
    at_zero["config"]["voxdeploy:cloud"]["autoscaling"]["minReplicas"] = 0
    assert any("scales to zero" in m for m in refusals(at_zero)["cloud.rollout.strategy"])
    falling = staging_canary(canary={"steps": [{"setWeight": 50}, {"setWeight": 10}]})
    assert any("must rise" in m for m in refusals(falling)["cloud.rollout.canary.steps"])


def test_validate_refuses_durations_argo_cannot_parse() -> None:
    """Argo Rollouts reads pause, interval and initialDelay with Go's time.ParseDuration: 1d passes Prometheus'
    syntax and would leave the Rollout InvalidSpec."""
    day_pause = staging_canary(canary={"steps": [{"setWeight": 50, "pause": "1d"}]})
    assert any("Go's time.ParseDuration" in m for m in refusals(day_pause)["cloud.rollout.canary.steps[0].pause"])
    week = staging_canary(canary={"analysis": {"interval": "1w"}})
    assert "cloud.rollout.canary.analysis.interval" in refusals(week)
    fine = staging_canary(canary={"steps": [{"setWeight": 50, "pause": "1h30m"}], "analysis": {"interval": "90s"}})
    assert build_objects(config_of(fine))


def test_runbooks_roll_back_the_object_that_runs_the_pods() -> None:
    canary = "\n".join(render_runbooks(config_of(staging_canary())).values())
    assert "kubectl argo rollouts abort voxcpm -n voxcpm-staging" in canary
    assert "kubectl -n voxcpm-staging describe rollout voxcpm" in canary
    assert "deployment/voxcpm" not in canary and "describe deployment" not in canary
    rolling = "\n".join(render_runbooks(config_of(read_stack_file("staging"))).values())
    assert "kubectl -n voxcpm-staging rollout undo deployment/voxcpm" in rolling and "argo rollouts" not in rolling
