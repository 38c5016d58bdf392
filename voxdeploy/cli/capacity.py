"""The capacity part of `voxdeploy plan`: options, reading a load test's result, printing the report.

Only this module touches files; infra/capacity stays pure, so the same report is testable without them.
The infra imports wait for the report itself: adding `plan`'s options must not load infra/capacity.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voxdeploy.infra.capacity.report import CapacityReport
    from voxdeploy.infra.config.capacity import CapacityPlanning
    from voxdeploy.infra.config.deployment import DeploymentConfig

__all__ = ["add_arguments", "as_json", "as_text", "report"]


def as_json(report: CapacityReport) -> dict[str, object]:
    from voxdeploy.infra.capacity import report as module

    return module.as_json(report)


def as_text(report: CapacityReport) -> str:
    from voxdeploy.infra.capacity import report as module

    return module.as_text(report)


def _positive(kind: type[float | int]) -> Callable[[str], float | int]:
    """An argparse type: `kind` of the text, refused unless > 0."""

    def parse(text: str) -> float | int:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def add_arguments(plan: argparse.ArgumentParser) -> None:
    """`plan`'s capacity options."""
    plan.add_argument(
        "--target-qps",
        type=_positive(float),
        default=None,
        help="busy-hour requests/s to size for [capacity.targetQps, else slo.minQps]",
    )
    plan.add_argument(
        "--capacity-from",
        type=Path,
        default=None,
        metavar="SUMMARY_JSON",
        help="a load test's summary.json or benchmark.json as one replica's capacity "
        "[the reference article's row capacity.referenceMode]",
    )
    plan.add_argument(
        "--allow-simulator",
        action="store_true",
        help="plan from a --capacity-from run that measured the simulator (refused otherwise: its figures are its "
        "settings, not VoxCPM2's)",
    )
    plan.add_argument(
        "--audio-hours",
        type=_positive(float),
        default=None,
        help="hours of audio a batch makes, for a batch stack [capacity.batch.audioHours]",
    )
    plan.add_argument(
        "--deadline-hours",
        type=_positive(float),
        default=None,
        help="hours from the batch Job's start to its end, cold start included [capacity.batch.deadlineHours]",
    )
    plan.add_argument(
        "--capacity-replicas",
        type=_positive(int),
        default=1,
        help="replicas that served the load test, to turn its figures into one replica's [1]",
    )


def report(args: argparse.Namespace, config: DeploymentConfig, planning: CapacityPlanning) -> CapacityReport | None:
    """The capacity report for `plan`, or None for a stack without a cloud tier (nothing to size).

    Raises CapacityInputError naming the file when the load-test result is unreadable or unusable.
    """
    from voxdeploy.infra.capacity.model import CapacityInputError, curve_from_load_test
    from voxdeploy.infra.capacity.report import capacity_report

    if not config.cloud.enabled:
        return None
    curve = None
    if args.capacity_from is not None:
        path: Path = args.capacity_from
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CapacityInputError(f"{path}: cannot read a load-test result ({err})") from err
        curve = curve_from_load_test(document, str(path), args.capacity_replicas, args.allow_simulator)
    return capacity_report(config, planning, curve, args.target_qps, args.audio_hours, args.deadline_hours)
