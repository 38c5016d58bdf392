"""The runtime's Prometheus registry, built from the shared catalogue (voxdeploy/contracts/metrics.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from voxdeploy.contracts import metrics as catalog
from voxdeploy.runtime.admission import Admission
from voxdeploy.runtime.engine_metrics import engine_metrics
from voxdeploy.runtime.engines.base import Engine


class _EngineState(Collector):
    """Restarts and readiness are read from the engine at scrape time, so they can never go stale."""

    def __init__(self, engine_name: str, restarts: Callable[[], int], ready: Callable[[], bool]) -> None:
        self._engine = engine_name
        self._restarts = restarts
        self._ready = ready

    def collect(self) -> Iterator[Metric]:
        restarts = CounterMetricFamily(
            catalog.ENGINE_RESTARTS.name, catalog.ENGINE_RESTARTS.help, labels=catalog.ENGINE_RESTARTS.labels
        )
        restarts.add_metric([self._engine], self._restarts())
        ready = GaugeMetricFamily(
            catalog.ENGINE_READY.name, catalog.ENGINE_READY.help, labels=catalog.ENGINE_READY.labels
        )
        ready.add_metric([self._engine], 1.0 if self._ready() else 0.0)
        yield restarts
        yield ready


class _GpuMemory(Collector):
    """GPU memory used per device from NVML; yields nothing at all where NVML is missing (never a fake 0)."""

    def __init__(self) -> None:
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            self._nvml = pynvml
        except Exception:  # no driver, no library, no GPU: the series is absent, as promised
            self._nvml = None

    def collect(self) -> Iterator[Metric]:
        if self._nvml is None:
            return
        family = GaugeMetricFamily(catalog.GPU_MEMORY_USED.name, catalog.GPU_MEMORY_USED.help, labels=["gpu"])
        for index in range(self._nvml.nvmlDeviceGetCount()):
            info = self._nvml.nvmlDeviceGetMemoryInfo(self._nvml.nvmlDeviceGetHandleByIndex(index))
            family.add_metric([str(index)], info.used / info.total)
        yield family


class AuthCounters:
    """The API-key series (a runtime's and a router's alike): 401s by reason, 429s of the per-key limit by key name."""

    def __init__(self, registry: CollectorRegistry) -> None:
        failures, rejections = catalog.AUTH_FAILURES, catalog.KEY_REJECTIONS
        self._failures = Counter(failures.name, failures.help, failures.labels, registry=registry)
        self._rejections = Counter(rejections.name, rejections.help, rejections.labels, registry=registry)

    def known(self, names: Iterable[str]) -> None:
        """Start every reason and key name at 0, so a rate over them exists before the first refusal."""
        for reason in ("missing", "invalid"):
            self._failures.labels(reason=reason)
        for name in names:
            self._rejections.labels(key=name)

    def refused(self, reason: str) -> None:
        self._failures.labels(reason=reason).inc()

    def limited(self, name: str) -> None:
        self._rejections.labels(key=name).inc()


class RuntimeMetrics:
    """The series one runtime process exports, labelled with its engine."""

    def __init__(self, engine_name: str, engine: Engine, admission: Admission, queue_capacity: int) -> None:
        self.registry = CollectorRegistry()
        label = {"engine": engine_name}

        def histogram(metric: catalog.Metric) -> Histogram:
            return Histogram(metric.name, metric.help, metric.labels, buckets=metric.buckets, registry=self.registry)

        def gauge(metric: catalog.Metric) -> Gauge:
            return Gauge(metric.name, metric.help, metric.labels, registry=self.registry)

        self.latency = histogram(catalog.REQUEST_LATENCY).labels(**label)
        self.time_to_first_audio = histogram(catalog.TIME_TO_FIRST_AUDIO).labels(**label)
        self.real_time_factor = histogram(catalog.REAL_TIME_FACTOR).labels(**label)
        self.audio_seconds = Counter(
            catalog.AUDIO_SECONDS.name, catalog.AUDIO_SECONDS.help, catalog.AUDIO_SECONDS.labels, registry=self.registry
        ).labels(**label)
        self._requests = Counter(
            catalog.REQUESTS.name, catalog.REQUESTS.help, catalog.REQUESTS.labels, registry=self.registry
        )
        self._engine = engine_name
        # Read at scrape time: nothing to update on the request path.
        gauge(catalog.IN_FLIGHT).labels(**label).set_function(lambda: admission.running)
        gauge(catalog.QUEUED).labels(**label).set_function(lambda: admission.waiting)
        gauge(catalog.QUEUE_CAPACITY).labels(**label).set(queue_capacity)
        self.registry.register(_EngineState(engine_name, lambda: engine.restarts, lambda: engine.ready))
        self.registry.register(_GpuMemory())
        self.engine_own = engine_metrics(engine)
        """The engine's own series, refreshed by each /metrics request; None where the engine serves none."""
        if self.engine_own is not None:
            self.registry.register(self.engine_own)
        self.auth = AuthCounters(self.registry)

    def count_request(self, status: int) -> None:
        self._requests.labels(engine=self._engine, code=str(status)).inc()
