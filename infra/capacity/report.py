"""The capacity section of `voxdeploy plan`: one report, as JSON and as text tables."""

from __future__ import annotations

from dataclasses import dataclass

from voxdeploy.infra.capacity.cost import MonthlyCost, monthly_cost
from voxdeploy.infra.capacity.decision import Recommendation, Targets, recommend
from voxdeploy.infra.capacity.model import CapacityCurve
from voxdeploy.infra.capacity.planner import ReplicaPlan, plan_replicas
from voxdeploy.infra.capacity.reference import reference_curve
from voxdeploy.infra.config.capacity import CapacityPlanning
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.plan import table


@dataclass(frozen=True)
class CapacityReport:
    """Everything the plan says about capacity: the curve it used, the sizing, the bill, the mode."""

    curve: CapacityCurve
    plan: ReplicaPlan
    cost: MonthlyCost
    recommendation: Recommendation
    stack_replicas: tuple[int, int]
    """The stack's own (fewest, most) replicas, to compare with the plan's bounds."""


def capacity_report(
    config: DeploymentConfig,
    planning: CapacityPlanning,
    curve: CapacityCurve | None = None,
    target_qps: float | None = None,
) -> CapacityReport:
    """Size the cloud tier: the target QPS is the argument, else `planning.targetQps`, else `slo.minQps`.

    Without a measured curve one replica is the reference article's benchmark row `planning.referenceMode`.
    """
    curve = curve or reference_curve(planning.reference_mode)
    qps = target_qps or planning.target_qps or config.slo.min_qps
    plan = plan_replicas(curve, qps, config.slo.p95_rtf, planning, config.cloud.gpus_per_pod)
    needs = planning.needs
    targets = Targets(config.slo.p95_rtf, qps, needs.offline, needs.batch, needs.personalised_voice)
    return CapacityReport(
        curve,
        plan,
        monthly_cost(planning.prices, plan.gpu_hours_per_month),
        recommend(targets),
        config.cloud.replica_range,
    )


def as_json(report: CapacityReport) -> dict[str, object]:
    """The report as `plan -o json` prints it (camelCase keys, like the rest of the plan)."""
    plan, cost, row = report.plan, report.cost, report.recommendation.row
    gpus_min, gpus_busy, gpus_max = plan.gpus
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
        "targetQps": plan.target_qps,
        "rtfTarget": plan.rtf_target,
        "perReplica": {"concurrency": round(plan.per_replica.concurrency, 2), "qps": round(plan.per_replica.qps, 2)},
        "replicas": {"min": plan.replicas_min, "busy": plan.replicas_busy, "max": plan.replicas_max},
        "stackReplicas": {"min": report.stack_replicas[0], "max": report.stack_replicas[1]},
        "gpusPerReplica": plan.gpus_per_replica,
        "gpus": {"min": gpus_min, "busy": gpus_busy, "max": gpus_max},
        "gpuHoursPerMonth": round(plan.gpu_hours_per_month, 1),
        "inFlightTargetPerPod": plan.in_flight_target,
        "monthlyCostUsd": {
            "hardware": round(cost.hardware, 2),
            "cloud": round(cost.cloud, 2),
            "bandwidth": round(cost.bandwidth, 2),
            "total": round(cost.total, 2),
        },
        "recommendation": {
            "mode": row.mode if row else None,
            "scenario": row.scenario if row else None,
            "monthlyUsdRange": list(row.monthly_usd) if row else None,
            "reason": report.recommendation.reason,
        },
    }


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def as_text(report: CapacityReport) -> str:
    """The report as tables, the way `voxdeploy plan` prints the rest."""
    plan, cost, recommendation = report.plan, report.cost, report.recommendation
    per = plan.per_replica
    fewest, most = report.stack_replicas
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
    curve = [
        (f"{p.concurrency:g}", f"{p.qps:.1f}", f"{p.latency_seconds * 1000:.0f}", f"{p.rtf:g}")
        for p in report.curve.points
    ]
    row = recommendation.row
    mode = (
        f"{row.mode} ({row.scenario}, {_usd(row.monthly_usd[0])}-{_usd(row.monthly_usd[1])} a month): "
        if row
        else "none: "
    )
    lines = [
        f"Capacity ({report.curve.source})",
        table(("CONCURRENCY", "REQUESTS/S", "LATENCY MS", "RTF"), curve),
        "",
        table(("FIGURE", "VALUE"), figures),
        "",
        "Monthly cost",
        table(
            ("HARDWARE", "CLOUD", "BANDWIDTH", "TOTAL"),
            [(_usd(cost.hardware), _usd(cost.cloud), _usd(cost.bandwidth), _usd(cost.total))],
        ),
        "",
        f"Recommended mode: {mode}{recommendation.reason}",
    ]
    return "\n".join(lines) + "\n"
