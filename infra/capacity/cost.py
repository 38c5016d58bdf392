"""Monthly cost from a price table: owned hardware written off, rented GPU hours, bandwidth."""

from __future__ import annotations

from dataclasses import dataclass

from voxdeploy.infra.config.capacity import PriceTable


@dataclass(frozen=True)
class MonthlyCost:
    """The reference article's cost columns, in USD per month."""

    hardware: float
    cloud: float
    bandwidth: float

    @property
    def total(self) -> float:
        return self.hardware + self.cloud + self.bandwidth


def monthly_cost(prices: PriceTable, gpu_hours: float) -> MonthlyCost:
    """What a month costs at `gpu_hours` of rented GPUs: the same lines for cloud, edge and hybrid."""
    return MonthlyCost(
        hardware=prices.hardware_usd / prices.amortisation_months,
        cloud=gpu_hours * prices.gpu_hour_usd,
        bandwidth=prices.bandwidth_usd_per_month,
    )
