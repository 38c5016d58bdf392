"""The engine's own metrics through the runtime's /metrics: forwarded, filtered, and failing soft.

The pure half reads the upstream-named fixture (tests/fixtures/upstream/vllm-omni-0.30-metrics.txt). The
end-to-end half runs `voxdeploy serve --engine vllm-omni` over a stand-in engine that serves that fixture on
loopback (tests/support/vllm_omni_metrics_server.py), and over an engine that never answers.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.processes import REPO, Served, free_port, start_serve, wait_until
from tests.support.upstream import VLLM_OMNI_METRICS, vllm_omni_standin_args
from voxdeploy.contracts import engine_metrics as engine_catalog
from voxdeploy.contracts import metrics as catalog
from voxdeploy.runtime.engine_metrics import FETCH_TIMEOUT_SECONDS, SCRAPE_TIMEOUT_HEADER, fetch_timeout, forwarded

NAMESPACES = engine_catalog.VLLM_OMNI.namespaces
UP = catalog.ENGINE_METRICS_UP.name
OWN = catalog.IN_FLIGHT.name
OURS_FROM_THE_ENGINE = f'# TYPE {OWN} gauge\n{OWN}{{engine="vllm-omni"}} 99.0\n'
MALFORMED = 'vllm:num_requests_waiting{model_name="openbmb/VoxCPM2" 3.0\n'


def samples(text: str) -> dict[str, list[Sample]]:
    """Sample name -> its samples, in an exposition that must parse."""
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def up(found: dict[str, list[Sample]]) -> float:
    (sample,) = found[UP]
    assert sample.labels == {"engine": "vllm-omni"}
    return sample.value


def engine_names(found: dict[str, list[Sample]]) -> set[str]:
    return {name for name in found if name.startswith(NAMESPACES)}


# -- the pinned names, the fixture and the filter, no processes ---------------------------------------------


def test_the_fixture_has_every_pinned_family_with_its_kind_and_labels() -> None:
    header = VLLM_OMNI_METRICS.read_text().split("# HELP", 1)[0]
    assert "vllm/v1/metrics/loggers.py" in header and "ced6857af" in header and "Apache License 2.0" in header
    families = {family.name: family for family in text_string_to_metric_families(VLLM_OMNI_METRICS.read_text())}
    for metric in engine_catalog.VLLM_OMNI.pinned:
        family = families[metric.name]
        assert family.type == metric.kind, metric.name
        assert {label for s in family.samples for label in s.labels} == set(metric.labels), metric.name
        assert family.documentation == metric.help, metric.name


def test_the_pinned_names_are_those_of_the_engine_version_the_image_installs() -> None:
    pins = dict(re.findall(r"^ARG (\w+)=(\S+)", (REPO / "runtime" / "Dockerfile").read_text(), flags=re.M))
    assert (pins["VLLM_VERSION"], pins["VLLM_OMNI_VERSION"]) == (
        engine_catalog.VLLM_VERSION,
        engine_catalog.VLLM_OMNI_VERSION,
    ), "the engine moved: read its metric names again and update voxdeploy/contracts/engine_metrics.py"


def test_only_the_engines_own_namespaces_are_forwarded() -> None:
    kept = {family.name for family in forwarded(VLLM_OMNI_METRICS.read_text() + OURS_FROM_THE_ENGINE, NAMESPACES)}
    assert {metric.name for metric in engine_catalog.VLLM_OMNI.pinned} <= kept
    assert all(name.startswith(NAMESPACES) for name in kept)  # no process_*, python_*, http_*, voxdeploy_*


@pytest.mark.parametrize(
    "text",
    [
        MALFORMED,
        "<html>502 Bad Gateway</html>\n",
        '# TYPE vllm:a gauge\nvllm:a 1\n# TYPE vllm:b gauge\nvllm:b 1\n# TYPE vllm:a gauge\nvllm:a{x="1"} 2\n',
    ],
    ids=["unterminated labels", "not an exposition", "a family twice"],
)
def test_an_unusable_exposition_is_refused_whole(text: str) -> None:
    with pytest.raises(ValueError):
        forwarded(text, NAMESPACES)


@pytest.mark.parametrize(
    ("announced", "expected"),
    [
        (None, FETCH_TIMEOUT_SECONDS),
        ("10", FETCH_TIMEOUT_SECONDS),
        ("1.5", 0.75),
        ("0", FETCH_TIMEOUT_SECONDS),
        ("soon", FETCH_TIMEOUT_SECONDS),
    ],
)
def test_the_engine_gets_at_most_half_the_scrape_timeout(announced: str | None, expected: float) -> None:
    assert fetch_timeout(announced) == expected


# -- end to end: a real runtime over a stand-in engine ------------------------------------------------------


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    engine_port = free_port()
    served = start_serve(vllm_omni_standin_args(engine_port), tmp_path_factory.mktemp("engine-metrics") / "serve.log")
    try:
        yield served, f"http://127.0.0.1:{engine_port}"
    finally:
        served.stop()


@pytest.fixture
def standin(runtime: tuple[Served, str]) -> Iterator[tuple[Served, str]]:
    """The module's runtime; whatever a test makes the engine answer, the next test gets the fixture again."""
    yield runtime
    answer(runtime[1], None)


def answer(engine_url: str, body: str | None, delay: float = 0.0) -> None:
    httpx.post(engine_url + "/debug/metrics", json={"body": body, "delay": delay}, timeout=5).raise_for_status()


def scrape(served: Served, **headers: str) -> dict[str, list[Sample]]:
    response = httpx.get(served.url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200
    return samples(response.text)


def test_the_runtime_serves_the_engines_families_beside_its_own(standin: tuple[Served, str]) -> None:
    found = scrape(standin[0])
    assert up(found) == 1.0 and OWN in found
    assert set(found) >= engine_catalog.ENGINE_SERIES
    upstream = samples(VLLM_OMNI_METRICS.read_text())
    assert engine_names(found) == engine_names(upstream)
    assert found[engine_catalog.VLLM_KV_CACHE_USAGE.name] == upstream[engine_catalog.VLLM_KV_CACHE_USAGE.name]
    assert not any(name.startswith(("process_", "python_", "http_")) for name in found)


def test_an_engine_family_named_like_ours_never_reaches_the_exposition(standin: tuple[Served, str]) -> None:
    served, engine_url = standin
    answer(engine_url, VLLM_OMNI_METRICS.read_text() + OURS_FROM_THE_ENGINE)
    text = httpx.get(served.url + "/metrics", timeout=10).text
    assert text.count(f"# TYPE {OWN} gauge") == 1
    found = samples(text)
    assert up(found) == 1.0 and [s.value for s in found[OWN]] == [0.0]


def test_a_malformed_exposition_costs_only_the_engines_series(standin: tuple[Served, str]) -> None:
    served, engine_url = standin
    answer(engine_url, VLLM_OMNI_METRICS.read_text() + MALFORMED)
    found = scrape(served)
    assert up(found) == 0.0 and OWN in found and engine_names(found) == set()


def test_a_hung_engine_costs_only_its_series_within_the_scrape_timeout(standin: tuple[Served, str]) -> None:
    served, engine_url = standin
    answer(engine_url, None, delay=30)
    started = time.monotonic()
    found = scrape(served, **{SCRAPE_TIMEOUT_HEADER: "1"})
    assert time.monotonic() - started < 3, "half the announced 1 s, plus the runtime's own work"
    assert up(found) == 0.0 and OWN in found and engine_names(found) == set()
    answer(engine_url, None)
    assert up(scrape(served)) == 1.0, "the next scrape gets the engine's series again"


def test_an_engine_that_never_answers_leaves_the_runtimes_own_metrics_served(serve) -> None:
    silent = [sys.executable, "-c", "import time; time.sleep(300)"]  # never listens: an engine still loading
    served = serve(
        "--engine", "vllm-omni", "--engine-port", str(free_port()), "--engine-command", *silent, wait_ready=False
    )
    wait_until(lambda: _answers(served.url + "/health"), 15, "the runtime to listen")
    found = scrape(served)
    assert up(found) == 0.0 and OWN in found and engine_names(found) == set()
    assert [s.value for s in found[catalog.ENGINE_READY.name]] == [0.0]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
