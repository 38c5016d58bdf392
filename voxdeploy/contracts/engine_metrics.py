"""The engine's own Prometheus series that voxdeploy relies on, pinned to the engine version it runs.

The engine listens on loopback only, so the runtime forwards the engine's /metrics on its own
(runtime/engine_metrics.py); dashboards and autoscaling read the names below, and tests accept an
engine name in a rule or panel only when it is pinned here. Engine names move between releases (vLLM
renamed `vllm:gpu_cache_usage_perc` to `vllm:kv_cache_usage_perc`), so each name is read from the
released source of the version the cloud image pins, and must be read again when that pin moves:

- `vllm:*`: vLLM 0.30.0, `vllm/v1/metrics/loggers.py` (PrometheusStatLogger) of the PyPI wheel, whose
  `vllm/_version.py` records commit `gced6857af` (github.com/vllm-project/vllm, commit ced6857af). Its
  labels are `model_name, engine`; vLLM-Omni 0.30.0 rewrites `engine` into `stage, replica`
  (`vllm_omni/metrics/stat_logger.py`, OmniPrometheusStatLogger), which is what our pods expose.
- `vllm_omni:*`: vLLM-Omni 0.30.0, `vllm_omni/metrics/definitions.py` and `vllm_omni/metrics/prometheus.py`
  of the PyPI wheel (github.com/vllm-project/vllm-omni; its `_version.py` records no commit id).

Both are Apache-2.0. llama.cpp-omni's `llama-tts-server` (`tools/server/server-voxcpm2.cpp` at
tc-mb/llama.cpp-omni ae5af0440e5e357e60b29287388efefb919b4167) registers no /metrics route at all: the
`--metrics` flag and the `llamacpp:*` series belong to llama.cpp's `llama-server`, which the edge tier does
not run. So the llamacpp engine has no exposition here, and its runtime exports no engine series.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxdeploy.contracts.metrics import Metric

VLLM_VERSION = "0.30.0"
VLLM_OMNI_VERSION = "0.30.0"

_STAGE_LABELS = ("model_name", "stage", "replica")
"""vLLM's per-engine labels as vLLM-Omni exposes them (`engine` rewritten into stage and replica)."""
_PIPELINE_LABELS = ("model_name",)

VLLM_REQUESTS_RUNNING = Metric(
    "vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", _STAGE_LABELS
)
VLLM_REQUESTS_WAITING = Metric(
    "vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", _STAGE_LABELS
)
VLLM_KV_CACHE_USAGE = Metric(
    "vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", _STAGE_LABELS
)
"""A share, 0 to 1, despite `perc` in its name."""
OMNI_REQUESTS_RUNNING = Metric(
    "vllm_omni:num_requests_running",
    "gauge",
    "Number of requests currently running across all pipeline stages.",
    _PIPELINE_LABELS,
)
OMNI_REQUESTS_WAITING = Metric(
    "vllm_omni:num_requests_waiting", "gauge", "Number of requests waiting to be scheduled.", _PIPELINE_LABELS
)
"""The orchestrator's queue in front of every stage: the engine-side backlog of one pod."""


@dataclass(frozen=True)
class EngineExposition:
    """What an engine serves on its loopback port for Prometheus, and the part of it the runtime forwards.

    Only families in the engine's own `namespaces` are forwarded: its /metrics also carries the engine
    process' generic series (`process_*`, `python_*`, its HTTP server's `http_*`), which under the runtime's
    target would read as the runtime's own, and nothing outside them can clash with our `voxdeploy_` names.
    """

    engine: str
    path: str
    namespaces: tuple[str, ...]
    pinned: tuple[Metric, ...]
    """The families dashboards and autoscaling read: always present in this engine version's exposition."""


VLLM_OMNI = EngineExposition(
    "vllm-omni",
    "/metrics",
    ("vllm:", "vllm_omni:"),
    (VLLM_REQUESTS_RUNNING, VLLM_REQUESTS_WAITING, VLLM_KV_CACHE_USAGE, OMNI_REQUESTS_RUNNING, OMNI_REQUESTS_WAITING),
)

EXPOSITIONS: tuple[EngineExposition, ...] = (VLLM_OMNI,)
"""Every engine whose own metrics the runtime forwards."""

ENGINE_SERIES: frozenset[str] = frozenset(
    series for exposition in EXPOSITIONS for metric in exposition.pinned for series in metric.series
)
"""Sample names of every pinned engine family: the only engine names a rule or panel may read."""
