"""How an environment is watched: alert thresholds, SLO objectives, scraping and the Grafana dashboard.

Thresholds that are already release targets (p95 latency, p95 RTF, error ratio in `slo`) are not
repeated here: the alerts read them from `DeploymentConfig.slo`, so the load-test gate and the pager
always agree on what "too slow" means. Only what is specific to alerting lives in this model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from infra.config.base import DnsLabel, StrictModel

PROMETHEUS_DURATION = r"^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$"
"""Prometheus' duration syntax (the same pattern the prometheus-operator CRDs enforce)."""

Duration = Annotated[str, Field(pattern=PROMETHEUS_DURATION, min_length=1)]
"""A Prometheus duration such as 30s, 5m, 1h30m."""

Severity = Literal["info", "warning", "critical"]


class Alert(StrictModel):
    """One alert's switch, pending time and severity (the `severity` label Alertmanager routes on)."""

    enabled: bool = Field(True, description="Create this alert.")
    for_: Duration = Field(
        ..., alias="for", description="How long the condition must hold before the alert fires (Prometheus `for`)."
    )
    severity: Severity = Field(..., description="Value of the alert's severity label.")


class GpuMemoryAlert(Alert):
    """GPUMemoryHighUsage: the reference article's memory alert."""

    threshold_percent: float = Field(
        90.0, gt=0, le=100, description="GPU memory in use, percent of total, that alerts."
    )


class QueueAlert(Alert):
    """QueueSaturation: the runtime's admission queue is close to the size where it answers 429."""

    threshold_ratio: float = Field(
        0.8, gt=0, le=1, description="Share of cloud.server.maxQueuedRequests waiting in one pod that alerts."
    )


class CrashLoopAlert(Alert):
    """EngineCrashLooping: the runtime keeps restarting its engine process."""

    restarts: int = Field(3, ge=1, description="Engine restarts within `window` that alert.")
    window: Duration = Field("15m", description="Look-back window the restarts are counted over.")


class BurnRateAlert(Alert):
    """One speed of a multi-window, multi-burn-rate SLO alert (Google SRE workbook, chapter 5)."""

    long_window: Duration = Field(..., description="Window the budget burn must be sustained over.")
    short_window: Duration = Field(
        ..., description="Recent window that must still burn, so the alert resets soon after the problem stops."
    )
    burn_rate: float = Field(..., gt=0, description="Multiple of the error budget's even spend rate that alerts.")


class Alerts(StrictModel):
    """Every alert the rules contain; thresholds tied to release targets come from `slo`."""

    high_inference_latency: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="HighInferenceLatency: service p95 request latency over 5m above slo.p95LatencySeconds "
        "(the reference article's alert; 2 s unless the stack says otherwise).",
    )
    gpu_memory_high_usage: GpuMemoryAlert = Field(
        GpuMemoryAlert(for_="3m", severity="critical"),
        description="GPUMemoryHighUsage: one GPU's memory in use above thresholdPercent "
        "(the reference article's alert).",
    )
    high_real_time_factor: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="HighRealTimeFactor: service p95 real-time factor over 5m above slo.p95Rtf.",
    )
    high_error_ratio: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="HighErrorRatio: share of 5xx answers over 5m above slo.maxErrorRatio.",
    )
    availability_burn_fast: BurnRateAlert = Field(
        BurnRateAlert(long_window="1h", short_window="5m", burn_rate=14.4, for_="2m", severity="critical"),
        description="AvailabilityBudgetBurnFast: 2% of a 30-day availability budget gone in an hour (page).",
    )
    availability_burn_slow: BurnRateAlert = Field(
        BurnRateAlert(long_window="6h", short_window="30m", burn_rate=6.0, for_="15m", severity="warning"),
        description="AvailabilityBudgetBurnSlow: 5% of a 30-day availability budget gone in six hours (ticket).",
    )
    latency_burn_fast: BurnRateAlert = Field(
        BurnRateAlert(long_window="1h", short_window="5m", burn_rate=14.4, for_="2m", severity="critical"),
        description="LatencyBudgetBurnFast: the latency SLO's budget (requests slower than slo.p95LatencySeconds) "
        "burning 14.4x too fast.",
    )
    latency_burn_slow: BurnRateAlert = Field(
        BurnRateAlert(long_window="6h", short_window="30m", burn_rate=6.0, for_="15m", severity="warning"),
        description="LatencyBudgetBurnSlow: the latency SLO's budget burning 6x too fast.",
    )
    queue_saturation: QueueAlert = Field(
        QueueAlert(for_="5m", severity="warning"),
        description="QueueSaturation: a pod's admission queue near cloud.server.maxQueuedRequests (429s next).",
    )
    engine_crash_looping: CrashLoopAlert = Field(
        CrashLoopAlert(for_="0m", severity="critical"),
        description="EngineCrashLooping: the engine process died and was restarted repeatedly.",
    )
    capacity_exhausted: Alert = Field(
        Alert(for_="15m", severity="critical"),
        description="CapacityExhausted: the HPA is at maxReplicas while p95 latency is above slo.p95LatencySeconds "
        "(needs kube-state-metrics; left out without autoscaling).",
    )
    target_down: Alert = Field(
        Alert(for_="5m", severity="warning"),
        description="RuntimeTargetDown: some runtime pods' /metrics cannot be scraped.",
    )
    metrics_absent: Alert = Field(
        Alert(for_="10m", severity="critical"),
        description="RuntimeMetricsAbsent: no runtime series at all, so a dead exporter is never silent "
        "(left out when the tier may scale to zero).",
    )


class SloObjectives(StrictModel):
    """The SLOs the burn-rate alerts protect; their thresholds are the release targets in `slo`."""

    availability_objective: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Share of requests that must not fail with 5xx; unset uses 1 - slo.maxErrorRatio, so the "
        "release gate and the burn-rate alerts share one error budget.",
    )
    latency_objective: float = Field(
        0.95,
        gt=0,
        lt=1,
        description="Share of requests that must finish within slo.p95LatencySeconds (0.95: what a p95 target means).",
    )


class Scrape(StrictModel):
    """How Prometheus collects the runtime's /metrics."""

    interval: Duration = Field("15s", description="Scrape interval (ServiceMonitor endpoint and plain scrape config).")
    timeout: Duration = Field("10s", description="Scrape timeout; must not exceed the interval.")


class Dashboard(StrictModel):
    """The Grafana dashboard, shipped as a ConfigMap the Grafana sidecar imports."""

    enabled: bool = Field(True, description="Create the dashboard ConfigMap.")
    namespace: DnsLabel | None = Field(
        None, description="Namespace the Grafana sidecar watches; unset puts the ConfigMap beside the service."
    )
    labels: dict[str, str] = Field(
        {"grafana_dashboard": "1"}, description="Labels the Grafana sidecar selects dashboard ConfigMaps by."
    )
    folder: str = Field("VoxCPM", min_length=1, description="Grafana folder the dashboard goes into.")
    folder_annotation: str = Field(
        "grafana_folder",
        min_length=1,
        description="Annotation the sidecar reads the folder from (its folderAnnotation).",
    )
    tags: list[str] = Field(["voxdeploy", "tts"], description="Grafana tags of the dashboard.")


class Observability(StrictModel):
    """Alert rules, scraping and dashboards of the cloud tier, generated from this and `slo`."""

    prometheus_rule: bool = Field(
        True, description="Create a PrometheusRule (prometheus-operator CRD) holding the recording and alert rules."
    )
    service_monitor: bool = Field(
        True, description="Create a ServiceMonitor (prometheus-operator CRD) scraping the runtime's /metrics."
    )
    selector_labels: dict[str, str] = Field(
        {},
        description="Labels on the PrometheusRule and ServiceMonitor that the Prometheus' ruleSelector and "
        "serviceMonitorSelector match (kube-prometheus-stack: release: <its release name>).",
    )
    scrape: Scrape = Field(Scrape(), description="Scrape interval and timeout.")
    dashboard: Dashboard = Field(Dashboard(), description="Grafana dashboard ConfigMap.")
    runbook_base_url: str = Field(
        "https://github.com/voxdeploy/voxdeploy/blob/main/docs/runbooks",
        pattern=r"^https?://\S+[^/]$",
        description="Where `voxdeploy runbooks` output is published; each alert links <this>/<runbook>.md.",
    )
    objectives: SloObjectives = Field(SloObjectives(), description="Availability and latency SLO objectives.")
    alerts: Alerts = Field(Alerts(), description="Per-alert switches, thresholds, pending times and severities.")
