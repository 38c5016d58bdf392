"""What `voxdeploy plan` sizes the cloud tier for, and what that costs: target load, headroom, prices.

The reference article's cost table (cloud $9,700, edge $25,800, hybrid $15,800 a month) is reproduced by
these fields (tests/capacity/test_capacity_plan.py works it through), so a stack's own prices go through the
same arithmetic. Defaults take the example's unit figures ($2.50 per GPU-hour, eight busy hours a day);
hardware and bandwidth are each stack's own and 0 until set.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from voxdeploy.contracts.base import StrictModel

ReferenceMode = Literal["singlePytorch", "vllmOmni", "mixedBatching"]


class PriceTable(StrictModel):
    """Monthly cost lines: owned hardware written off, rented GPU hours, bandwidth."""

    gpu_hour_usd: float = Field(
        2.5, ge=0, description="Price of one cloud GPU for one hour (on-demand or committed rate)."
    )
    hardware_usd: float = Field(
        0.0, ge=0, description="Purchase price of owned hardware (edge devices, fog servers); 0 for pure cloud."
    )
    amortisation_months: int = Field(36, ge=1, le=120, description="Months the hardware's price is spread over.")
    bandwidth_usd_per_month: float = Field(
        0.0,
        ge=0,
        description="Egress and transit per month at the planned traffic (from the provider's bill or quote).",
    )


class ScenarioNeeds(StrictModel):
    """What the service must do besides speed, for the reference article's decision table."""

    offline: bool = Field(False, description="Clients must synthesize without a network (mobile apps, kiosks).")
    batch: bool = Field(False, description="Audio is produced ahead of time and nobody waits for it (course material).")
    personalised_voice: bool = Field(False, description="Each user speaks with their own fine-tuned (LoRA) voice.")


class BatchPlanning(StrictModel):
    """A batch's size and deadline, for the batch part of the plan ("N hours of audio by a deadline")."""

    audio_hours: float | None = Field(
        None, gt=0, description="Hours of audio one batch makes; unset: the batch is not sized (`plan --audio-hours`)."
    )
    deadline_hours: float = Field(
        24.0,
        gt=0,
        le=8760,
        description="Hours from the Job's start by which the batch is done, the GPU tier's cold start included.",
    )
    batches_per_month: float = Field(1.0, gt=0, le=744, description="Batches run a month, for the monthly cost.")


class CapacityPlanning(StrictModel):
    """Inputs of the capacity and cost plan of the cloud tier."""

    target_qps: float | None = Field(
        None, gt=0, description="Busy-hour requests per second to plan for; unset uses slo.minQps."
    )
    headroom: float = Field(
        0.2,
        ge=0,
        le=4,
        description="Capacity above targetQps that maxReplicas allows (bursts, a lost zone, pods still starting), "
        "as a share of targetQps.",
    )
    off_peak_share: float = Field(
        0.5, gt=0, le=1, description="Off-peak load as a share of targetQps; sizes minReplicas."
    )
    min_replicas_floor: int = Field(
        2, ge=1, le=1000, description="Fewest replicas whatever the load, so one lost pod does not stop the service."
    )
    hours_per_month: float = Field(730.0, gt=0, le=744, description="Hours billed per month (730: a year / 12).")
    busy_hours_per_month: float = Field(
        240.0,
        ge=0,
        le=744,
        description="Hours a month at the busy-hour replica count (8 h x 30 days); the rest run at minReplicas.",
    )
    reference_mode: ReferenceMode = Field(
        "vllmOmni",
        description="The reference article's benchmark row used as one replica's capacity when no load-test "
        "summary is given: singlePytorch, vllmOmni or mixedBatching.",
    )
    prices: PriceTable = Field(PriceTable(), description="Price table of the monthly cost.")
    batch: BatchPlanning = Field(BatchPlanning(), description="Size and deadline of a batch (the batch: section).")
    needs: ScenarioNeeds = Field(
        ScenarioNeeds(), description="Scenario needs the deployment-mode recommendation weighs."
    )
