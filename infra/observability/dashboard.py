"""The environment's Grafana dashboard, as a ConfigMap the Grafana sidecar imports.

Panels are data (title, unit, queries, threshold line); the Grafana JSON around them is generated,
so panel ids and layout can never collide. Queries read the recording rules where one exists and the
catalogue's series otherwise, with the environment's selector baked in (one dashboard per environment).
The cloud tier's panels come first; the edge pools and the router each add a row when the stack has them.
The dashboard travels with the first watched component (watch.WATCHES order), so an edge-only stack has one too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.contracts.metrics import RATE_WINDOW
from voxdeploy.infra.builders import meta
from voxdeploy.infra.config.deployment import DeploymentConfig
from voxdeploy.infra.observability import external, router
from voxdeploy.infra.observability.panel import Panel, Query
from voxdeploy.infra.observability.promql import aggregate, histogram_quantile, selector, sum_rate, target_labels
from voxdeploy.infra.observability.recording import LATENCY_P95, QPS, RTF_P95, error_ratio, failures
from voxdeploy.infra.observability.rules import COMPONENT
from voxdeploy.infra.observability.scope import RuntimeScope, edge_scope
from voxdeploy.infra.observability.watch import Watch, watches

PANEL_WIDTH = 12
PANEL_HEIGHT = 8
ROW_HEIGHT = 1
WIDTH = 24
COLUMNS = WIDTH // PANEL_WIDTH
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@dataclass(frozen=True)
class Section:
    """Panels under a Grafana row titled `title`; the cloud tier's, first, have no row above them."""

    title: str | None
    panels: tuple[Panel, ...]


def _quantiles(metric: catalog.Metric, config: DeploymentConfig, recorded_p95: str) -> tuple[Query, ...]:
    labels = target_labels(config)
    return (
        Query("p50", histogram_quantile(0.5, metric, labels, RATE_WINDOW, ())),
        Query("p95", f"{recorded_p95}{selector(labels)}"),
        Query("p99", histogram_quantile(0.99, metric, labels, RATE_WINDOW, ())),
    )


def _per_pod(operator: str, metric: catalog.Metric, sel: str) -> str:
    """A gauge aggregated per pod: vLLM's series carry one line per stage and replica inside each pod."""
    return aggregate(operator, ("pod",), f"{metric.name}{sel}")


def cloud_panels(config: DeploymentConfig) -> list[Panel]:
    """Everything an on-call engineer looks at first, in reading order."""
    labels = target_labels(config)
    sel = selector(labels)
    (requests,) = catalog.REQUESTS.series
    (restarts,) = catalog.ENGINE_RESTARTS.series
    (audio,) = catalog.AUDIO_SECONDS.series
    ttfa = catalog.TIME_TO_FIRST_AUDIO
    return [
        Panel(
            "Requests per second",
            "reqps",
            "Finished speech requests per second, all and by HTTP status code.",
            (Query("all", f"{QPS}{sel}"), Query("{{code}}", sum_rate(requests, labels, RATE_WINDOW, ("code",)))),
        ),
        Panel(
            "Request latency",
            "s",
            "End-to-end /v1/audio/speech latency, admission queue included; the line is slo.p95LatencySeconds.",
            _quantiles(catalog.REQUEST_LATENCY, config, LATENCY_P95),
            config.slo.p95_latency_seconds,
        ),
        Panel(
            "Real-time factor",
            "none",
            "Synthesis time / audio duration (lower is faster); the line is slo.p95Rtf.",
            _quantiles(catalog.REAL_TIME_FACTOR, config, RTF_P95),
            config.slo.p95_rtf,
        ),
        Panel(
            "Time to first audio",
            "s",
            "From request arrival to the first audio chunk: what a streaming listener waits.",
            tuple(
                Query(name, histogram_quantile(q, ttfa, labels, RATE_WINDOW, ()))
                for name, q in (("p50", 0.5), ("p95", 0.95))
            ),
        ),
        Panel(
            "In flight and queued",
            "short",
            "Requests being synthesized and waiting, against the queue size beyond which new requests get 429.",
            (
                Query("in flight", aggregate("sum", (), f"{catalog.IN_FLIGHT.name}{sel}")),
                Query("queued", aggregate("sum", (), f"{catalog.QUEUED.name}{sel}")),
                Query("queue capacity", aggregate("sum", (), f"{catalog.QUEUE_CAPACITY.name}{sel}")),
            ),
        ),
        Panel(
            "Engine queue (vLLM-Omni)",
            "short",
            "Inside the engine, per pod: requests waiting in vLLM-Omni's orchestrator and in vLLM's scheduler, and "
            "those running; the engine's own series, served through the runtime's /metrics, so they are absent "
            "while the engine's /metrics does not answer (engine metrics up 0).",
            (
                Query("{{pod}} waiting (orchestrator)", _per_pod("sum", engine_catalog.OMNI_REQUESTS_WAITING, sel)),
                Query("{{pod}} waiting (scheduler)", _per_pod("sum", engine_catalog.VLLM_REQUESTS_WAITING, sel)),
                Query("{{pod}} running", _per_pod("sum", engine_catalog.VLLM_REQUESTS_RUNNING, sel)),
                Query("{{pod}} engine metrics up", _per_pod("max", catalog.ENGINE_METRICS_UP, sel)),
            ),
        ),
        Panel(
            "Engine KV-cache use",
            "percentunit",
            "Share of the engine's KV cache in use, per pod (vLLM's kv_cache_usage_perc, 0 to 1): near 1, new "
            "requests wait in the engine's queue however few the runtime admits; the line is the "
            "EngineKvCacheSaturated threshold.",
            (Query("{{pod}}", _per_pod("max", engine_catalog.VLLM_KV_CACHE_USAGE, sel)),),
            config.observability.alerts.engine_kv_cache_saturated.threshold_ratio,
        ),
        Panel(
            "Errors by code",
            "reqps",
            f"Failed requests per second by status: 429 is load shed (queue full), other 4xx bad input, 5xx ours; "
            f"{failures(config)} spend the availability budget.",
            (Query("{{code}}", sum_rate(requests, labels, RATE_WINDOW, ("code",), code="4..|5..")),),
        ),
        Panel(
            "Error ratio",
            "percentunit",
            f"Share of requests answered {failures(config)}, as the availability SLO counts them; the line is "
            "slo.maxErrorRatio.",
            (Query("errors", f"{error_ratio(RATE_WINDOW)}{sel}"),),
            config.slo.max_error_ratio,
        ),
        Panel(
            "Engine restarts and readiness",
            "short",
            "Engine process restarts in the last hour, and whether each pod's engine is loaded (1) or not (0).",
            (
                Query("restarts {{pod}}", aggregate("sum", ("pod",), f"increase({restarts}{sel}[1h])")),
                Query("ready {{pod}}", aggregate("max", ("pod",), f"{catalog.ENGINE_READY.name}{sel}")),
            ),
        ),
        Panel(
            "GPU memory used",
            "percentunit",
            "Share of GPU memory in use per pod and GPU (NVML); the line is the GPUMemoryHighUsage threshold.",
            (Query("{{pod}} gpu {{gpu}}", aggregate("max", ("pod", "gpu"), f"{catalog.GPU_MEMORY_USED.name}{sel}")),),
            config.observability.alerts.gpu_memory_high_usage.threshold_ratio,
        ),
        Panel(
            "Audio generated",
            "none",
            "Seconds of audio produced per second of wall time, all pods together.",
            (Query("audio s/s", sum_rate(audio, labels, RATE_WINDOW, ())),),
        ),
    ]


def edge_panels(scope: RuntimeScope, config: DeploymentConfig) -> list[Panel]:
    """One line per pool (its Service) for each recorded series, and whether the pools can be scraped."""
    sel = scope.selector
    per_pool = ("service",)
    targets = ", ".join(f"{t.service} {t.threshold:.3g}" for t in scope.rtf_targets)
    return [
        Panel(
            "Edge p95 latency by pool",
            "s",
            "p95 request latency per pool; the line is the EdgeHighInferenceLatency threshold.",
            (Query("{{service}}", f"{LATENCY_P95}{sel}"),),
            scope.latency_target,
        ),
        Panel(
            "Edge p95 real-time factor by pool",
            "none",
            f"p95 real-time factor per pool; each alerts above its own threshold ({targets}).",
            (Query("{{service}}", f"{RTF_P95}{sel}"),),
        ),
        Panel(
            "Edge requests per second by pool",
            "reqps",
            "Finished speech requests per second per pool.",
            (Query("{{service}}", f"{QPS}{sel}"),),
        ),
        Panel(
            "Edge error ratio by pool",
            "percentunit",
            f"Share of a pool's requests answered {failures(config)}; the line is slo.maxErrorRatio.",
            (Query("{{service}}", f"{error_ratio(RATE_WINDOW)}{sel}"),),
            config.slo.max_error_ratio,
        ),
        Panel(
            "Edge pods scraped",
            "short",
            "Edge pods answering /metrics against those Prometheus tries: a gap is often a dropped link, which "
            "EdgeRuntimeTargetDown waits out.",
            (
                Query("{{service}} up", aggregate("sum", per_pool, f"{external.UP}{sel}")),
                Query("{{service}} targets", aggregate("count", per_pool, f"{external.UP}{sel}")),
            ),
        ),
        Panel(
            "Edge queued requests by pool",
            "short",
            "Requests waiting for a pool's synthesis slots (llama-tts-server serves one at a time).",
            (Query("{{service}}", aggregate("sum", per_pool, f"{catalog.QUEUED.name}{sel}")),),
        ),
    ]


def sections(config: DeploymentConfig) -> list[Section]:
    """The dashboard's sections for the tiers the stack runs, in reading order."""
    result = [Section(None, tuple(cloud_panels(config)))] if config.cloud.enabled else []
    scope = edge_scope(config)
    if scope is not None:
        result.append(Section("Edge pools", tuple(edge_panels(scope, config))))
    if config.hybrid.enabled:
        result.append(Section("Hybrid router", tuple(router.panels(config))))
    return result


def panels(config: DeploymentConfig) -> list[Panel]:
    """Every panel of the dashboard, rows left out."""
    return [panel for section in sections(config) for panel in section.panels]


def _field_config(panel: Panel) -> dict[str, object]:
    defaults: dict[str, object] = {"unit": panel.unit}
    if panel.threshold is not None:
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": panel.threshold}],
        }
    return {"defaults": defaults, "overrides": []}


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, object]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": PANEL_HEIGHT, "w": PANEL_WIDTH, "x": x, "y": y},
        "fieldConfig": _field_config(panel),
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [
            {"refId": chr(ord("A") + n), "datasource": DATASOURCE, "expr": query.expr, "legendFormat": query.legend}
            for n, query in enumerate(panel.queries)
        ],
    }


def _row_json(title: str, panel_id: int, y: int) -> dict[str, object]:
    """A Grafana row header, expanded: the panels below it until the next row belong to it."""
    return {
        "id": panel_id,
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"h": ROW_HEIGHT, "w": WIDTH, "x": 0, "y": y},
    }


def layout(config: DeploymentConfig) -> list[dict[str, object]]:
    """Grafana panels top to bottom: each section's row, then its panels two to a line; ids count up from 1."""
    laid: list[dict[str, object]] = []
    y = 0
    for section in sections(config):
        if section.title is not None:
            laid.append(_row_json(section.title, len(laid) + 1, y))
            y += ROW_HEIGHT
        for index, panel in enumerate(section.panels):
            x = (index % COLUMNS) * PANEL_WIDTH
            laid.append(_panel_json(panel, len(laid) + 1, x, y + (index // COLUMNS) * PANEL_HEIGHT))
        y += -(-len(section.panels) // COLUMNS) * PANEL_HEIGHT
    return laid


def owner(config: DeploymentConfig) -> Watch | None:
    """The watched component the dashboard is created with: the first one, so every watched stack has one."""
    return next(iter(watches(config)), None)


def _name(config: DeploymentConfig) -> str:
    """Named after its owner (the cloud tier's name where there is one, as before the other tiers joined)."""
    watch = owner(config)
    return watch.name if watch is not None else config.cloud.name


def dashboard(config: DeploymentConfig) -> dict[str, object]:
    """The Grafana dashboard model (schema of Grafana 10/11), one per environment."""
    settings = config.observability.dashboard
    name = _name(config)
    return {
        "uid": f"voxdeploy-{config.namespace}-{name}"[:40],
        "title": f"VoxCPM2 speech: {config.environment} ({config.namespace}/{name})",
        "description": "Generated by voxdeploy from the stack config; edit the stack, not this dashboard.",
        "tags": list(settings.tags),
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                }
            ]
        },
        "panels": layout(config),
    }


def dashboard_file(config: DeploymentConfig) -> str:
    """ConfigMap key of the dashboard JSON, named per stack like the uid.

    The sidecar writes the keys of every ConfigMap of a folder into one directory: a key named after the
    environment alone let two environments of one name (in two namespaces) overwrite each other's dashboard.
    """
    return f"{meta.shared_name(config, 'dashboard', _name(config))}.json"


def dashboard_config_map(config: DeploymentConfig) -> dict[str, object]:
    """The dashboard where the Grafana sidecar finds it: its label, its folder annotation.

    Beside the service it is named like the stack's other objects; in a namespace the sidecar watches for
    several stacks (`dashboard.namespace`) it takes a name no other stack renders.
    """
    settings = config.observability.dashboard
    name = _name(config)
    namespace = settings.namespace or config.namespace
    shared = namespace != config.namespace
    labels = {**meta.labels(config, name, COMPONENT), **settings.labels}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": meta.shared_name(config, "dashboard", name) if shared else f"{name}-dashboard",
            "namespace": namespace,
            "labels": labels,
            "annotations": {settings.folder_annotation: settings.folder},
        },
        "data": {dashboard_file(config): json.dumps(dashboard(config), indent=2, sort_keys=True) + "\n"},
    }
