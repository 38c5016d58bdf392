"""The signal and capacity config models: documented, strict, camelCase, with defaults that say why."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.support.schemas import config_models
from voxdeploy.infra.config.capacity import CapacityPlanning
from voxdeploy.infra.config.scaling_signal import ScalingSignal


@pytest.mark.parametrize("root", [ScalingSignal, CapacityPlanning])
def test_every_field_is_documented(root: type) -> None:
    assert [
        f"{m.__name__}.{n}" for m in config_models(root) for n, f in m.model_fields.items() if not f.description
    ] == []


def test_stack_keys_are_camel_case_and_strict() -> None:
    signal = ScalingSignal.model_validate(
        {"metric": "p95Rtf", "backend": "hpaCustom", "rtfWindow": "1m", "keda": {"fallbackReplicas": 3}}
    )
    assert (signal.rtf_window, signal.keda.fallback_replicas) == ("1m", 3)
    planning = CapacityPlanning.model_validate({"targetQps": 500, "prices": {"gpuHourUsd": 3}})
    assert (planning.target_qps, planning.prices.gpu_hour_usd) == (500, 3)
    for bad in ({"metric": "gpu"}, {"backend": "hpa-custom"}, {"rtfWindow": "two minutes"}, {"fallback": 2}):
        with pytest.raises(ValidationError):
            ScalingSignal.model_validate(bad)
    with pytest.raises(ValidationError):
        CapacityPlanning.model_validate({"targetQPS": 500})


def test_default_targets_sit_below_the_limit_they_run_into() -> None:
    assert ScalingSignal(metric="inFlight").target_value(100, 0.15) == 80
    assert ScalingSignal(metric="queued").target_value(100, 0.15) == 80
    assert ScalingSignal(metric="engineQueue").target_value(100, 0.15) == 80, "the runtime's slots, not maxNumSeqs"
    assert ScalingSignal(metric="p95Rtf").target_value(100, 0.15) == pytest.approx(0.12)
    assert ScalingSignal(metric="inFlight", target=41).target_value(100, 0.15) == 41
