"""The batch part of `voxdeploy plan`: replicas for N hours of audio by a deadline, the cold start of a tier scaled
to zero, GPU-hours and the month's bill beside the reference article's education row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.batch_stacks import SMALL, at_zero, with_batch
from voxdeploy.cli import main
from voxdeploy.infra.capacity.batch_plan import plan_batch, saturation
from voxdeploy.infra.capacity.model import CapacityCurve, CapacityInputError, CapacityPoint
from voxdeploy.infra.config.capacity import BatchPlanning

FLAT = CapacityCurve("flat", (CapacityPoint(10, 100, 0.1, 0.2),))
"""One replica making 10 / 0.2 = 50 s of audio a second."""


def test_a_cold_tier_loses_its_startup_to_the_deadline_and_pays_for_it() -> None:
    """1,000 h of audio in 10 h at 50 audio-s/s a replica: 2 replicas if warm; the 0.5 h cold start leaves 9.5 h,
    which 2 cannot do (2 x 50 x 9.5 h = 950 h), so 3, each billed from its start."""
    plan = plan_batch(FLAT, BatchPlanning(deadline_hours=10, batches_per_month=4), 1000, 2, 0, 1800)
    assert plan.replicas == 3 and plan.cold_start_hours == 0.5
    synthesis = 1000 * 3600 / (3 * 50) / 3600
    assert plan.hours == pytest.approx(0.5 + synthesis)
    assert plan.gpu_hours == pytest.approx(3 * 2 * (0.5 + synthesis))
    assert plan.gpu_hours_per_month == pytest.approx(4 * plan.gpu_hours)
    assert plan.in_flight == 30 and plan.audio_hours_per_hour == 150


def test_replicas_already_running_start_at_once_and_are_paid_for_already() -> None:
    plan = plan_batch(FLAT, BatchPlanning(deadline_hours=10), 1000, 1, 2, 1800)
    assert (plan.replicas, plan.cold_start_hours, plan.hours, plan.gpu_hours) == (2, 0, 10, 20)
    assert (plan.running_replicas, plan.billed_gpu_hours, plan.gpu_hours_per_month) == (2, 0, 0)


def test_only_the_replicas_beyond_the_running_ones_are_billed() -> None:
    """3 replicas needed with a cold start, 1 of them kept up anyway: 2 are billed, each from its start."""
    plan = plan_batch(FLAT, BatchPlanning(deadline_hours=10, batches_per_month=4), 1000, 2, 1, 1800)
    assert (plan.replicas, plan.running_replicas) == (3, 1)
    assert plan.billed_gpu_hours == pytest.approx(2 * 2 * plan.hours)
    assert plan.gpu_hours_per_month == pytest.approx(4 * plan.billed_gpu_hours)


def test_a_batch_runs_where_a_replica_makes_the_most_audio_not_at_the_rtf_target() -> None:
    curve = CapacityCurve(
        "measured",
        (CapacityPoint(8, 40, 0.2, 0.1), CapacityPoint(32, 100, 0.32, 0.25), CapacityPoint(64, 110, 0.6, 0.7)),
    )
    assert saturation(curve).concurrency == 32  # 128 audio-s/s; 80 at 8 in flight, 91 at 64


def test_a_deadline_inside_the_cold_start_is_refused_naming_the_field() -> None:
    with pytest.raises(CapacityInputError, match=r"deadline of 0\.5 h \(capacity\.batch\.deadlineHours\).*0\.92 h"):
        plan_batch(FLAT, BatchPlanning(deadline_hours=0.5), 10, 1, 0, 3300)


def stack_file(tmp_path: Path, document: dict) -> str:
    path = tmp_path / "Pulumi.batch.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_plan_of_a_tier_scaled_to_zero_is_the_batch_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Staging at zero between batches: no interactive replicas to pay for; the batch's cold start is the stack's
    startup budget (600 s node + 1,800 s download + 900 s load = 0.92 h); the article's vLLM-Omni row makes
    384.6 audio-s/s a replica."""
    stack = stack_file(tmp_path, at_zero(with_batch(SMALL)))
    assert main(["plan", "--stack", stack, "--audio-hours", "2000", "--deadline-hours", "2", "-o", "json"]) == 0
    capacity = json.loads(capsys.readouterr().out)["capacity"]
    assert capacity["interactive"] is None
    batch = capacity["batch"]
    assert batch["coldStartHours"] == pytest.approx(3300 / 3600, abs=1e-3)
    assert batch["replicas"] == 5  # 2,000 h / (384.6 x 1.083 h) = 4.8
    assert capacity["monthlyCostUsd"]["cloud"] == pytest.approx(2.5 * batch["gpuHoursPerMonth"], abs=0.2)
    assert capacity["recommendation"]["mode"] == capacity["articleBatchRow"]["mode"] == "cloud batch processing"
    assert main(["plan", "--stack", stack, "--audio-hours", "2000", "--deadline-hours", "2"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Interactive: none (the tier scales to zero between batches)" in text
    assert "replicas 5 (5 GPUs; stack: at most 4)" in text
    assert "warning: the batch needs 5 replicas; raise cloud.autoscaling.maxReplicas (4)" in text
    assert "the Job sends 4" in text and "raise batch.concurrency or batch.parallelism" in text
    warnings = capacity["warnings"]  # the JSON says what the text warns of
    assert len(warnings) == 2 and all(f"warning: {w}" in " ".join(text.split()) for w in warnings)
    assert "educational content generation row: cloud batch processing, $1,000-$3,000 a month, RTF 0.1-0.2" in text


def test_the_batch_size_comes_from_the_stack_and_is_asked_for_when_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = at_zero(with_batch(SMALL))
    unsized = stack_file(tmp_path, document)
    assert main(["plan", "--stack", unsized]) == 0
    assert "Batch: not sized; set capacity.batch.audioHours (or plan --audio-hours)" in capsys.readouterr().out
    document["config"]["voxdeploy:capacity"] = {"batch": {"audioHours": 100, "deadlineHours": 12, "batchesPerMonth": 3}}
    sized = stack_file(tmp_path, document)
    assert main(["plan", "--stack", sized, "-o", "json"]) == 0
    batch = json.loads(capsys.readouterr().out)["capacity"]["batch"]
    assert (batch["audioHours"], batch["deadlineHours"], batch["batchesPerMonth"]) == (100, 12, 3)


def test_an_interactive_tier_pays_for_a_batch_only_beyond_its_running_replicas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Staging keeps 2 replicas up: a batch that they finish in time needs no cold start and adds nothing to the
    bill; one that needs more adds only the others."""
    stack = stack_file(tmp_path, with_batch(SMALL))
    assert main(["plan", "--stack", stack, "--audio-hours", "100", "-o", "json"]) == 0
    capacity = json.loads(capsys.readouterr().out)["capacity"]
    interactive, batch = capacity["interactive"], capacity["batch"]
    assert interactive["replicas"]["min"] == 2 and batch["coldStartHours"] == 0
    assert batch["replicas"] == batch["runningReplicas"] == 1  # one of the two kept up does it
    assert batch["gpuHoursPerBatch"] > 0 and batch["billedGpuHoursPerBatch"] == batch["gpuHoursPerMonth"] == 0
    assert capacity["monthlyCostUsd"]["cloud"] == pytest.approx(2.5 * interactive["gpuHoursPerMonth"], abs=0.5)
    assert main(["plan", "--stack", stack, "--audio-hours", "5000", "--deadline-hours", "4", "-o", "json"]) == 0
    capacity = json.loads(capsys.readouterr().out)["capacity"]
    batch = capacity["batch"]
    assert batch["replicas"] > 2 and batch["runningReplicas"] == 2
    assert batch["billedGpuHoursPerBatch"] == pytest.approx(
        batch["gpuHoursPerBatch"] * (batch["replicas"] - 2) / batch["replicas"], abs=0.01
    )
    total = capacity["interactive"]["gpuHoursPerMonth"] + batch["gpuHoursPerMonth"]
    assert capacity["monthlyCostUsd"]["cloud"] == pytest.approx(2.5 * total, abs=0.5)
    assert capacity["recommendation"]["mode"] == "vLLM-Omni cluster"  # it still serves people who wait


def test_replicas_the_stack_keeps_up_beyond_the_interactive_plan_are_billed_to_the_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Staging at minReplicas 4, while the interactive plan pays for 2: the batch's 4 replicas start at once, and
    the 2 the interactive bill leaves out are on the batch's."""
    document = with_batch(SMALL)
    document["config"]["voxdeploy:cloud"]["autoscaling"]["minReplicas"] = 4
    stack = stack_file(tmp_path, document)
    assert main(["plan", "--stack", stack, "--audio-hours", "6000", "--deadline-hours", "4", "-o", "json"]) == 0
    capacity = json.loads(capsys.readouterr().out)["capacity"]
    interactive, batch = capacity["interactive"], capacity["batch"]
    assert (interactive["replicas"]["min"], batch["replicas"], batch["coldStartHours"]) == (2, 4, 0)
    assert batch["runningReplicas"] == 2
    assert batch["billedGpuHoursPerBatch"] == pytest.approx(batch["gpuHoursPerBatch"] / 2, abs=0.01)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--audio-hours", "0"], "--audio-hours: must be > 0, got 0"), (["--deadline-hours", "x"], "--deadline-hours")],
)
def test_bad_batch_sizes_on_the_command_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--stack", "staging", *argv])
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_a_deadline_over_the_fields_bound_is_refused_on_the_command_line_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--deadline-hours replaces capacity.batch.deadlineHours, so it is held to the field's bound (8760 h)."""
    stack = stack_file(tmp_path, at_zero(with_batch(SMALL)))
    assert main(["plan", "--stack", stack, "--audio-hours", "10", "--deadline-hours", "9000"]) == 2
    err = capsys.readouterr().err
    assert "--deadline-hours 9000: input should be less than or equal to 8760" in err
    assert "capacity.batch.deadlineHours" in err and "Traceback" not in err


def test_bad_batch_sizes_in_the_stack_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = at_zero(with_batch(SMALL))
    document["config"]["voxdeploy:capacity"] = {"batch": {"deadlineHours": -1}}
    assert main(["plan", "--stack", stack_file(tmp_path, document)]) == 2
    assert "capacity.batch.deadlineHours" in capsys.readouterr().err
