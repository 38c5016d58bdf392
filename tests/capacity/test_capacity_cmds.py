"""`voxdeploy plan`'s capacity options: reading a load test's result, refusing a bad one, skipping edge-only stacks."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tests.support.capacity_summaries import load_test_summary
from tests.support.stacks import STACKS_DIR
from voxdeploy.cli import capacity as capacity_cmds
from voxdeploy.infra.capacity.model import CapacityInputError
from voxdeploy.infra.config import load_stack
from voxdeploy.infra.config.capacity import CapacityPlanning
from voxdeploy.loadtests.summary import write


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    capacity_cmds.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_plan_from_the_reference_row_at_the_slo() -> None:
    config = load_stack("prod", STACKS_DIR).config
    report = capacity_cmds.report(parse(), config, CapacityPlanning())
    assert report is not None and report.plan is not None
    assert report.curve.source == "reference article: vLLM-Omni"
    assert report.plan.target_qps == config.slo.min_qps


def test_a_summary_json_measured_on_two_replicas(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write(load_test_summary(users=100, latency=0.2, audio_seconds=2.0, seconds=4), path)
    args = parse("--capacity-from", str(path), "--capacity-replicas", "2", "--target-qps", "1000")
    report = capacity_cmds.report(args, load_stack("prod", STACKS_DIR).config, CapacityPlanning())
    assert report is not None and report.plan is not None
    (point,) = report.curve.points
    assert point.concurrency == 50 and point.qps == pytest.approx(250, rel=0.05)
    assert report.plan.replicas_busy == 5  # about 244 req/s per replica, flat beyond its 50 in flight
    assert capacity_cmds.as_json(report)["source"] == str(path)
    assert str(path) in capacity_cmds.as_text(report)


@pytest.mark.parametrize("content", ["{not json", '{"parameters": {}}'])
def test_an_unusable_file_is_an_error_naming_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "summary.json"
    path.write_text(content)
    with pytest.raises(CapacityInputError, match=r"summary\.json"):
        capacity_cmds.report(
            parse("--capacity-from", str(path)), load_stack("prod", STACKS_DIR).config, CapacityPlanning()
        )


def test_missing_file_and_bad_numbers() -> None:
    with pytest.raises(CapacityInputError, match="cannot read"):
        capacity_cmds.report(
            parse("--capacity-from", "/nonexistent/summary.json"),
            load_stack("prod", STACKS_DIR).config,
            CapacityPlanning(),
        )
    for argv in (("--target-qps", "0"), ("--capacity-replicas", "-1"), ("--target-qps", "many")):
        with pytest.raises(SystemExit):
            parse(*argv)


def test_a_stack_without_a_cloud_tier_has_nothing_to_size() -> None:
    assert capacity_cmds.report(parse(), load_stack("edge", STACKS_DIR).config, CapacityPlanning()) is None
