"""The capacity section of `voxdeploy plan`: one report, as JSON and as text tables."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from voxdeploy.infra.capacity.batch_plan import BatchPlan, audio_rate, plan_batch
from voxdeploy.infra.capacity.cost import MonthlyCost, monthly_cost
from voxdeploy.infra.capacity.decision import Recommendation, Targets, recommend
from voxdeploy.infra.capacity.model import CapacityCurve, CapacityInputError
from voxdeploy.infra.capacity.planner import ReplicaPlan, plan_replicas
from voxdeploy.infra.capacity.reference import EDUCATION_CONTENT, DecisionRow, reference_curve
from voxdeploy.infra.config.capacity import BatchPlanning, CapacityPlanning
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.plan import table


@dataclass(frozen=True)
class CapacityReport:
    """Everything the plan says about capacity: the curve it used, the sizing, the bill, the mode."""

    curve: CapacityCurve
    plan: ReplicaPlan | None
    """The interactive sizing; None for a tier scaled to zero between batches, which serves no one waiting."""
    batch: BatchPlan | None
    """The batch sizing, for a batch stack whose batch size is known."""
    batch_unsized: bool
    """A batch stack with no audio hours to size the batch for."""
    cost: MonthlyCost
    recommendation: Recommendation
    stack_replicas: tuple[int, int]
    """The stack's own (fewest, most) replicas, to compare with the plan's bounds."""
    job_in_flight: int | None
    """Requests the stack's batch Job keeps in flight (batch.parallelism x batch.concurrency); None without one."""

    @property
    def warnings(self) -> list[str]:
        """Where the stack falls short of the plan: said in the text and in the JSON alike."""
        return [] if self.batch is None else batch_warnings(self.batch, self.stack_replicas[1], self.job_in_flight)


def capacity_report(
    config: DeploymentConfig,
    planning: CapacityPlanning,
    curve: CapacityCurve | None = None,
    target_qps: float | None = None,
    audio_hours: float | None = None,
    deadline_hours: float | None = None,
) -> CapacityReport:
    """Size the cloud tier: the target QPS is the argument, else `planning.targetQps`, else `slo.minQps`; a batch
    stack's batch the same way from `audio_hours` and `deadline_hours`, else `planning.batch`.

    Without a measured curve one replica is the reference article's benchmark row `planning.referenceMode`. The
    month's GPU-hours are the interactive plan's and the batches' together.
    """
    curve = curve or reference_curve(planning.reference_mode)
    cloud = config.cloud
    fewest = cloud.replica_range[0]
    qps = target_qps or planning.target_qps or config.slo.min_qps
    plan = None if fewest == 0 else plan_replicas(curve, qps, config.slo.p95_rtf, planning, cloud.gpus_per_pod)
    batch_stack = config.batch.enabled or planning.needs.batch
    batch_planning = planning.batch
    if deadline_hours is not None:
        batch_planning = _with_deadline(batch_planning, deadline_hours)
    hours = audio_hours or batch_planning.audio_hours
    batch = None
    if batch_stack and hours is not None:
        # the interactive bill pays for its own plan's fewest replicas, which may be fewer than the stack keeps up
        paid = min(fewest, plan.replicas_min) if plan else 0
        batch = plan_batch(curve, batch_planning, hours, cloud.gpus_per_pod, fewest, cloud.startup_budget_seconds, paid)
    gpu_hours = (plan.gpu_hours_per_month if plan else 0.0) + (batch.gpu_hours_per_month if batch else 0.0)
    needs = planning.needs
    batch_only = needs.batch or plan is None
    targets = Targets(config.slo.p95_rtf, qps, needs.offline, batch_only, needs.personalised_voice)
    return CapacityReport(
        curve,
        plan,
        batch,
        batch_stack and batch is None,
        monthly_cost(planning.prices, gpu_hours),
        recommend(targets),
        cloud.replica_range,
        config.batch.in_flight if config.batch.enabled else None,
    )


def _with_deadline(planning: BatchPlanning, deadline_hours: float) -> BatchPlanning:
    """planning with --deadline-hours in place of its own, held to the same bounds as the stack's field."""
    try:
        return BatchPlanning.model_validate({**planning.model_dump(by_alias=True), "deadlineHours": deadline_hours})
    except ValidationError as err:
        raise CapacityInputError(
            f"--deadline-hours {deadline_hours:g}: {err.errors()[0]['msg'].lower()} "
            "(it stands for capacity.batch.deadlineHours and is held to that field's bounds)"
        ) from None


def batch_warnings(batch: BatchPlan, most_replicas: int, job_in_flight: int | None) -> list[str]:
    found = []
    if batch.replicas > most_replicas:
        found.append(
            f"the batch needs {batch.replicas} replicas; raise cloud.autoscaling.maxReplicas ({most_replicas})"
        )
    if job_in_flight is not None and job_in_flight < batch.in_flight:
        found.append(
            f"the Job keeps {job_in_flight} requests in flight, fewer than the {batch.in_flight} that saturate the "
            "replicas: raise batch.concurrency or batch.parallelism"
        )
    return found


def _interactive_json(plan: ReplicaPlan) -> dict[str, object]:
    gpus_min, gpus_busy, gpus_max = plan.gpus
    return {
        "targetQps": plan.target_qps,
        "rtfTarget": plan.rtf_target,
        "perReplica": {"concurrency": round(plan.per_replica.concurrency, 2), "qps": round(plan.per_replica.qps, 2)},
        "replicas": {"min": plan.replicas_min, "busy": plan.replicas_busy, "max": plan.replicas_max},
        "gpusPerReplica": plan.gpus_per_replica,
        "gpus": {"min": gpus_min, "busy": gpus_busy, "max": gpus_max},
        "gpuHoursPerMonth": round(plan.gpu_hours_per_month, 1),
        "inFlightTargetPerPod": plan.in_flight_target,
    }


def _batch_json(batch: BatchPlan) -> dict[str, object]:
    return {
        "audioHours": batch.audio_hours,
        "deadlineHours": batch.deadline_hours,
        "perReplica": {
            "concurrency": round(batch.per_replica.concurrency, 2),
            "rtf": batch.per_replica.rtf,
            "audioSecondsPerSecond": round(audio_rate(batch.per_replica), 2),
        },
        "replicas": batch.replicas,
        "gpusPerReplica": batch.gpus_per_replica,
        "coldStartHours": round(batch.cold_start_hours, 3),
        "hours": round(batch.hours, 3),
        "audioHoursPerHour": round(batch.audio_hours_per_hour, 1),
        "inFlight": batch.in_flight,
        "gpuHoursPerBatch": round(batch.gpu_hours, 2),
        "runningReplicas": batch.running_replicas,
        "billedGpuHoursPerBatch": round(batch.billed_gpu_hours, 2),
        "batchesPerMonth": batch.batches_per_month,
        "gpuHoursPerMonth": round(batch.gpu_hours_per_month, 1),
    }


def _row_json(row: DecisionRow) -> dict[str, object]:
    return {"mode": row.mode, "scenario": row.scenario, "monthlyUsdRange": list(row.monthly_usd), "rtf": list(row.rtf)}


def as_json(report: CapacityReport) -> dict[str, object]:
    """The report as `plan -o json` prints it (camelCase keys, like the rest of the plan); `interactive` is null
    for a tier scaled to zero, `batch` null unless a batch is sized."""
    cost, row = report.cost, report.recommendation.row
    return {
        "source": report.curve.source,
        "curve": [
            {
                "concurrency": round(p.concurrency, 2),
                "qps": round(p.qps, 2),
                "latencySeconds": round(p.latency_seconds, 4),
                "rtf": round(p.rtf, 4),
            }
            for p in report.curve.points
        ],
        "stackReplicas": {"min": report.stack_replicas[0], "max": report.stack_replicas[1]},
        "interactive": _interactive_json(report.plan) if report.plan else None,
        "batch": _batch_json(report.batch) if report.batch else None,
        "warnings": report.warnings,
        "monthlyCostUsd": {
            "hardware": round(cost.hardware, 2),
            "cloud": round(cost.cloud, 2),
            "bandwidth": round(cost.bandwidth, 2),
            "total": round(cost.total, 2),
        },
        "recommendation": {**(_row_json(row) if row else {"mode": None}), "reason": report.recommendation.reason},
        "articleBatchRow": _row_json(EDUCATION_CONTENT),
    }


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def _count(number: float, noun: str, plural: str = "s") -> str:
    return f"{number:g} {noun}{'' if number == 1 else plural}"


def _range(row: DecisionRow) -> str:
    return f"{_usd(row.monthly_usd[0])}-{_usd(row.monthly_usd[1])} a month"


def _interactive_text(plan: ReplicaPlan, stack_replicas: tuple[int, int]) -> list[str]:
    per = plan.per_replica
    fewest, most = stack_replicas
    replicas = f"{plan.replicas_min} / {plan.replicas_busy} / {plan.replicas_max} (stack: {fewest}..{most})"
    gpus = " / ".join(str(n) for n in plan.gpus) + f" ({plan.gpus_per_replica} per replica)"
    figures = [
        ("target QPS", f"{plan.target_qps:g}"),
        ("p95 RTF target", f"{plan.rtf_target:g}"),
        ("one replica at the RTF target", f"{per.qps:.1f} req/s; the RTF holds up to {per.concurrency:.0f} in flight"),
        ("replicas min / busy / max", replicas),
        ("GPUs min / busy / max", gpus),
        ("GPU-hours per month", f"{plan.gpu_hours_per_month:,.0f}"),
        ("in-flight target per pod", f"{plan.in_flight_target} (cloud.autoscaling.signal.target)"),
    ]
    return ["", table(("FIGURE", "VALUE"), figures)]


def _batch_text(batch: BatchPlan, stack_replicas: tuple[int, int], job_in_flight: int | None) -> list[str]:
    per = batch.per_replica
    most = stack_replicas[1]
    replicas = f"{batch.replicas} ({_count(batch.replicas * batch.gpus_per_replica, 'GPU')}; stack: at most {most})"
    sending = f"{batch.in_flight} requests"
    if job_in_flight is not None:
        sending += f" (the Job sends {job_in_flight}: batch.parallelism x batch.concurrency)"
    figures = [
        ("audio / deadline", f"{batch.audio_hours:g} h of audio in {batch.deadline_hours:g} h"),
        (
            "one replica at saturation",
            f"{audio_rate(per):,.1f} s of audio a second at {per.concurrency:g} in flight, RTF {per.rtf:g}",
        ),
        ("replicas", replicas),
        (
            "cold start",
            f"{batch.cold_start_hours:.2f} h (the tier's startup budget)" if batch.cold_start_hours else "0",
        ),
        ("batch wall time", f"{batch.hours:.2f} h, {batch.audio_hours_per_hour:,.0f} audio-hours per hour"),
        ("in flight to saturate", sending),
        ("GPU-hours per batch", f"{batch.gpu_hours:,.1f}" + _already_paid(batch)),
        ("GPU-hours per month", f"{batch.gpu_hours_per_month:,.1f} ({_count(batch.batches_per_month, 'batch', 'es')})"),
    ]
    return ["", "Batch", table(("FIGURE", "VALUE"), figures)]


def _already_paid(batch: BatchPlan) -> str:
    if batch.running_replicas == 0:
        return ""
    return (
        f" ({batch.billed_gpu_hours:,.1f} billed: {batch.running_replicas} of the {batch.replicas} replicas are "
        "kept up anyway and paid by the interactive plan)"
    )


def as_text(report: CapacityReport) -> str:
    """The report as tables, the way `voxdeploy plan` prints the rest, and its warnings."""
    cost, recommendation = report.cost, report.recommendation
    curve = [
        (f"{p.concurrency:g}", f"{p.qps:.1f}", f"{p.latency_seconds * 1000:.0f}", f"{p.rtf:g}")
        for p in report.curve.points
    ]
    lines = [f"Capacity ({report.curve.source})", table(("CONCURRENCY", "REQUESTS/S", "LATENCY MS", "RTF"), curve)]
    if report.plan:
        lines += _interactive_text(report.plan, report.stack_replicas)
    else:
        lines += ["", "Interactive: none (the tier scales to zero between batches)"]
    if report.batch:
        lines += _batch_text(report.batch, report.stack_replicas, report.job_in_flight)
        lines += [f"warning: {warning}" for warning in report.warnings]
    elif report.batch_unsized:
        lines += ["", "Batch: not sized; set capacity.batch.audioHours (or plan --audio-hours)"]
    row = recommendation.row
    mode = f"{row.mode} ({row.scenario}, {_range(row)}): " if row else "none: "
    article = EDUCATION_CONTENT
    lines += [
        "",
        "Monthly cost",
        table(
            ("HARDWARE", "CLOUD", "BANDWIDTH", "TOTAL"),
            [(_usd(cost.hardware), _usd(cost.cloud), _usd(cost.bandwidth), _usd(cost.total))],
        ),
    ]
    if report.batch or report.batch_unsized:
        lines.append(
            f"the article's {article.scenario} row: {article.mode}, {_range(article)}, "
            f"RTF {article.rtf[0]:g}-{article.rtf[1]:g}"
        )
    lines += ["", f"Recommended mode: {mode}{recommendation.reason}"]
    return "\n".join(lines) + "\n"
