"""A step in load on prod's cloud tier: scaling on in-flight, queued or engine-queued requests adds GPU pods
before the RTF target is breached; scaling on CPU never does, because the GPU saturates while the CPU idles."""

from __future__ import annotations

import pytest

from tests.support.scaling_simulation import ControllerModel, Outcome, PodModel, StepLoad, simulate
from tests.support.stacks import STACKS_DIR
from voxdeploy.infra.capacity.planner import plan_replicas
from voxdeploy.infra.capacity.reference import reference_curve
from voxdeploy.infra.config import DeploymentConfig, load_stack
from voxdeploy.infra.config.capacity import CapacityPlanning
from voxdeploy.infra.config.scaling_signal import ScalingSignal

CURVE = reference_curve("vllmOmni")
RAMPED = StepLoad(base_qps=300, peak_qps=1500, step_at=120, rise_seconds=1800)
"""From 300 to 1,500 requests/s over half an hour: past two replicas' 833 req/s at t = 920 s."""
SHEER = StepLoad(base_qps=300, peak_qps=1500, step_at=120)


def prod() -> DeploymentConfig:
    return load_stack("prod", STACKS_DIR).config


def run(metric: str, load: StepLoad, seconds: int = 3600) -> Outcome:
    """prod's runtime limits and HPA behavior; targets as a stack would set them."""
    config = prod()
    scaling, server, rtf_slo = config.cloud.autoscaling, config.cloud.server, config.slo.p95_rtf
    plan = plan_replicas(CURVE, 1500, rtf_slo, CapacityPlanning(), config.cloud.gpus_per_pod)
    targets = {
        "cpu": scaling.cpu_target_percent / 100,
        "inFlight": plan.in_flight_target,
        "queued": plan.in_flight_target,
        "engineQueue": plan.in_flight_target,
        "p95Rtf": ScalingSignal(metric="p95Rtf").target_value(server.max_concurrent_requests, rtf_slo),
    }
    controller = ControllerModel(
        metric,
        targets[metric],
        scaling.min_replicas,  # type: ignore[arg-type]
        scaling.max_replicas,
        scaling.scale_up,
        scaling.scale_down,
    )
    pod = PodModel(CURVE, server.max_concurrent_requests, server.max_queued_requests)
    return simulate(pod, controller, load, seconds, rtf_slo)


@pytest.mark.parametrize("metric", ["inFlight", "queued", "engineQueue"])
def test_load_signals_scale_out_before_the_rtf_target_is_breached(metric: str) -> None:
    outcome = run(metric, RAMPED)
    breach = outcome.first_breach
    assert outcome.first_scale_out is not None and breach is not None
    assert outcome.first_scale_out < breach
    assert outcome.breach_seconds < 180, "only while the first new GPU pods start"
    assert outcome.samples[-1].ready >= 4 and outcome.samples[-1].rtf <= 0.15


def test_cpu_never_scales_out_and_the_breach_never_ends() -> None:
    outcome = run("cpu", RAMPED)
    assert outcome.first_scale_out is None
    assert max(s.cpu for s in outcome.samples) < 0.7
    assert outcome.first_breach is not None
    assert all(s.rtf > 0.15 for s in outcome.samples[outcome.first_breach :])
    assert outcome.rejected > 0


def test_p95_rtf_signal_acts_only_after_the_breach() -> None:
    """The runtime's RTF excludes queueing and stays flat until the GPU saturates: a lagging signal."""
    outcome = run("p95Rtf", RAMPED)
    assert outcome.first_breach is not None and outcome.first_scale_out is not None
    assert outcome.first_scale_out > outcome.first_breach


def test_slower_growth_is_absorbed_without_a_breach() -> None:
    outcome = run("inFlight", StepLoad(300, 1500, 120, rise_seconds=3600), seconds=3900)
    assert outcome.first_breach is None and outcome.rejected == 0
    assert run("cpu", StepLoad(300, 1500, 120, rise_seconds=3600), seconds=3900).first_breach is not None


def test_a_sheer_step_breaches_until_new_pods_start_not_forever() -> None:
    """No signal beats a step faster than a GPU pod's start-up; a load signal bounds the breach by it."""
    scaled, cpu = run("queued", SHEER), run("cpu", SHEER)
    assert scaled.first_breach == cpu.first_breach == SHEER.step_at + 1
    assert scaled.breach_seconds <= 15 + 15 + 60 + 180 + 120  # scrape, sync, stabilization, start-up, 2nd wave
    assert scaled.samples[-1].rtf <= 0.15
    assert cpu.breach_seconds == 3600 - cpu.first_breach
