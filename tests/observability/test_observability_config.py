"""The `observability` section of a stack: documented, strict, Prometheus' own spelling for durations."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel, ValidationError

from voxdeploy.infra.config import ConfigError, DeploymentConfig, parse_config
from voxdeploy.infra.config.observability import Observability


def models(annotation: object) -> set[type[BaseModel]]:
    """Every model reachable from an annotation (through Optional, lists and nested models)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        nested = (models(field.annotation) for field in annotation.model_fields.values())
        return {annotation}.union(*nested)
    return set().union(*(models(arg) for arg in typing.get_args(annotation)))


def test_every_field_is_documented_and_has_a_default() -> None:
    for model in models(Observability):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"
    for name, field in Observability.model_fields.items():
        assert not field.is_required(), name


def test_alerts_take_prometheus_duration_syntax_under_for() -> None:
    config = DeploymentConfig.model_validate(
        {"observability": {"alerts": {"highInferenceLatency": {"for": "1h30m", "severity": "critical"}}}}
    )
    assert config.observability.alerts.high_inference_latency.for_ == "1h30m"
    dumped = config.observability.model_dump()["alerts"]["highInferenceLatency"]
    assert dumped == {"enabled": True, "for": "1h30m", "severity": "critical", "thresholdSeconds": None}


@pytest.mark.parametrize(
    "alerts",
    [
        {"highInferenceLatency": {"for": "5 minutes", "severity": "warning"}},
        {"highInferenceLatency": {"for": "5m", "severity": "page"}},
        {"gpuMemoryHighUsage": {"for": "3m", "severity": "critical", "thresholdRatio": 90}},
        {"gpuMemoryHighUsage": {"for": "3m", "severity": "critical", "thresholdRatio": 1}},
        {"queueSaturation": {"for": "5m", "severity": "warning", "thresholdRatio": 0}},
        {"highInferenceLatency": {"for": "5m", "severity": "warning", "threshold": 3}},
    ],
)
def test_bad_alert_settings_are_refused(alerts: dict) -> None:
    with pytest.raises(ValidationError):
        DeploymentConfig.model_validate({"observability": {"alerts": alerts}})


def test_the_gpu_threshold_is_a_ratio_and_the_old_percent_key_points_at_it() -> None:
    def error(settings: dict) -> str:
        alert = {"for": "3m", "severity": "critical", **settings}
        with pytest.raises(ConfigError) as raised:
            parse_config({"observability": {"alerts": {"gpuMemoryHighUsage": alert}}}, "stack")
        return str(raised.value)

    path = "observability.alerts.gpuMemoryHighUsage"
    old, out_of_range = error({"thresholdPercent": 90}), error({"thresholdRatio": 90})
    assert f"{path}.thresholdPercent = 90: unknown key; did you mean 'thresholdRatio'?" in old
    assert f"{path}.thresholdRatio = 90: Input should be less than 1" in out_of_range
