"""How the signal and the capacity plan plug into the stack, the builders, the checks and `voxdeploy plan`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.capacity_summaries import load_test_summary
from tests.support.stacks import read_stack_file
from voxdeploy.cli import main
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import ConfigError, parse_config
from voxdeploy.loadtests.summary import write


def prod_with(section: str, key: str, value: dict) -> dict:
    """prod's config document with `voxdeploy:<section>.<key>` set (one level deep)."""
    keys = read_stack_file("prod")["config"]
    document = {name.removeprefix("voxdeploy:"): body for name, body in keys.items()}
    document.setdefault(section, {})[key] = value
    return document


def kinds(document: dict) -> list[str]:
    return [obj["kind"] for obj in build_objects(parse_config(document, "prod"))]


def test_a_load_signal_replaces_the_cpu_hpa() -> None:
    cloud = read_stack_file("prod")["config"]["voxdeploy:cloud"]
    keda = prod_with("cloud", "autoscaling", {**cloud["autoscaling"], "signal": {"metric": "inFlight"}})
    assert "ScaledObject" in kinds(keda) and "HorizontalPodAutoscaler" not in kinds(keda)
    custom = prod_with(
        "cloud", "autoscaling", {**cloud["autoscaling"], "signal": {"metric": "queued", "backend": "hpaCustom"}}
    )
    assert kinds(custom).count("HorizontalPodAutoscaler") == 1 and "ScaledObject" not in kinds(custom)
    assert "ScaledObject" not in kinds(prod_with("cloud", "autoscaling", cloud["autoscaling"]))


@pytest.mark.parametrize(
    ("signal", "path"),
    [
        ({"metric": "inFlight", "keda": {"fallbackReplicas": 11}}, "cloud.autoscaling.signal.keda.fallbackReplicas"),
        ({"metric": "inFlight", "target": 101}, "cloud.autoscaling.signal.target"),
        ({"metric": "engineQueue", "target": 101}, "cloud.autoscaling.signal.target"),
        ({"metric": "p95Rtf", "target": 0.15}, "cloud.autoscaling.signal.target"),
    ],
)
def test_signal_misfits_name_their_key(signal: dict, path: str) -> None:
    cloud = read_stack_file("prod")["config"]["voxdeploy:cloud"]
    with pytest.raises(ConfigError) as caught:
        parse_config(prod_with("cloud", "autoscaling", {**cloud["autoscaling"], "signal": signal}), "prod")
    assert [issue.path for issue in caught.value.issues] == [path]


def test_busy_hours_fit_in_the_month() -> None:
    document = read_stack_file("prod")["config"]
    document = {name.removeprefix("voxdeploy:"): body for name, body in document.items()}
    document["capacity"] = {"busyHoursPerMonth": 800, "hoursPerMonth": 730}
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "prod")
    assert [issue.path for issue in caught.value.issues] == ["capacity.busyHoursPerMonth"]


def test_plan_prints_the_capacity_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--stack", "prod", "--target-qps", "1000", "-o", "json"]) == 0
    capacity = json.loads(capsys.readouterr().out)["capacity"]
    assert capacity["interactive"]["replicas"]["busy"] >= 2 and capacity["monthlyCostUsd"]["total"] > 0
    assert capacity["batch"] is None  # prod runs no batch
    assert main(["plan", "--stack", "prod"]) == 0
    assert "Monthly cost" in capsys.readouterr().out
    assert main(["plan", "--stack", "prod", "--capacity-from", "/nonexistent.json"]) == 2


def test_plan_refuses_a_simulators_summary_unless_told(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "summary.json"
    write(load_test_summary(users=40, latency=0.1, audio_seconds=0.8, seconds=5, engine="sim"), path)
    assert main(["plan", "--stack", "prod", "--capacity-from", str(path)]) == 2
    error = capsys.readouterr().err
    assert f"{path}: measured the simulator" in error and "--allow-simulator" in error
    assert main(["plan", "--stack", "prod", "--capacity-from", str(path), "--allow-simulator", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["capacity"]["source"] == str(path)
