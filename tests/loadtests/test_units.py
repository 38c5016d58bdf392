"""Pure parts of the load test: audio length, percentiles, the mix, the gate."""

from __future__ import annotations

import struct

import pytest

from voxdeploy.contracts.slo import SloTargets
from voxdeploy.loadtests.audio_length import response_seconds, wav_seconds
from voxdeploy.loadtests.corpus import LANGUAGES, SIZES, corpus, parse_mix
from voxdeploy.loadtests.figures import CSV_COLUMNS, figure_rows, figures_csv
from voxdeploy.loadtests.gate import judge
from voxdeploy.loadtests.report import REQUESTS_PER_WINDOW, SPARSE_WINDOW, _bins, percentile_series, window_seconds
from voxdeploy.loadtests.results import RequestRecord, measure, percentile
from voxdeploy.loadtests.runner import LoadTestError, LoadTestOptions, parse_duration


def wav(frames: int, rate: int = 48000, streamed: bool = False) -> bytes:
    data = b"\x01\x00" * frames
    size = 0xFFFFFFFF if streamed else len(data)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    riff = 0xFFFFFFFF if streamed else 36 + len(data)
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", size)
        + data
    )


def test_wav_and_pcm_durations() -> None:
    assert wav_seconds(wav(48000)) == 1.0
    assert wav_seconds(wav(24000, streamed=True)) == 0.5
    assert response_seconds(b"\x00" * 96000, "pcm", 48000) == 1.0
    with pytest.raises(ValueError, match="not a WAV"):
        wav_seconds(b'{"error": "nope"}')
    with pytest.raises(ValueError, match="not a decodable audio file"):
        response_seconds(b"", "flac", 48000)


def test_percentile_interpolates() -> None:
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert percentile([], 95) is None


def record(latency: float, audio: float | None = 1.0, ok: bool = True, start: float = 0.0) -> RequestRecord:
    return RequestRecord(
        start=start,
        latency=latency,
        ok=ok,
        status=200 if ok else 500,
        size="short",
        language="en",
        streamed=False,
        audio_seconds=audio if ok else None,
    )


def test_measure_counts_goodput_and_errors() -> None:
    records = [record(0.5, start=0), record(3.0, start=0), record(0.4, ok=False, start=1), record(0.2, start=9.8)]
    measured = measure(records, latency_target=1.0, rtf_target=0.6)
    assert measured.requests == 4 and measured.failures == 1
    assert measured.duration_seconds == pytest.approx(10.0)
    assert measured.qps == pytest.approx(0.3)
    assert measured.goodput == pytest.approx(0.2), "the 3 s request missed both targets"
    assert measured.error_ratio == 0.25


def test_gate_names_each_target() -> None:
    slo = SloTargets(min_qps=1, p95_latency_seconds=1, p95_rtf=0.5, max_error_ratio=0.01)
    verdicts = judge(slo, measure([record(0.1, start=i * 0.5) for i in range(10)], 1, 0.5))
    assert [v.target for v in verdicts] == ["minQps", "p95LatencySeconds", "p95Rtf", "maxErrorRatio"]
    assert all(v.passed for v in verdicts)
    failing = judge(slo, measure([record(2.0, ok=False)], 1, 0.5))
    assert {v.target: v.passed for v in failing} == {
        "minQps": False,
        "p95LatencySeconds": False,
        "p95Rtf": False,
        "maxErrorRatio": False,
    }
    assert failing[2].measured is None


def test_mix_parsing_refuses_typos() -> None:
    assert parse_mix("short=1,long=3", SIZES) == {"short": 1.0, "long": 3.0}
    for bad, words in (
        ("shrot=1", "unknown 'shrot'"),
        ("short=x", "not a number"),
        ("short=0", "no weight"),
        ("short=-1", "negative"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_mix(bad, SIZES)


def test_corpus_has_every_size_and_language() -> None:
    texts = corpus()
    for size in SIZES:
        for language in LANGUAGES:
            assert texts[size][language]
    assert max(len(t) for t in texts["long"]["en"]) > 300, "long texts exercise the runtime's splitting"


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("2.5s", 2.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (LoadTestOptions(host="http://x", users=0), "--users"),
        (LoadTestOptions(host="x:8000"), "--host"),
        (LoadTestOptions(host="http://x", stream_ratio=2), "--stream-ratio"),
        (LoadTestOptions(host="http://x", sizes="huge=1"), "--sizes"),
        (LoadTestOptions(host="http://x", processes=0), "--processes"),
        (LoadTestOptions(host="http://x", master_bind_port=70000), "--master-bind-port"),
    ],
)
def test_usage_errors_name_the_option(options: LoadTestOptions, words: str) -> None:
    with pytest.raises(LoadTestError, match=words):
        options.check()
    with pytest.raises(LoadTestError, match="not a duration"):
        parse_duration("soon")


def timed(start: float, latency: float, size: str = "short", streamed: bool = False, ok: bool = True) -> RequestRecord:
    return RequestRecord(start, latency, ok, 200 if ok else 500, size, "en", streamed, 2.0, 0.1 if streamed else None)


def test_figures_are_per_size_then_all_over_good_requests_only() -> None:
    records = [
        timed(0, 1.0),
        timed(0, 3.0, "long"),
        timed(0, 0.5, streamed=True),
        timed(0, 9.0, ok=False),
        timed(0, 9.0, "long", streamed=True, ok=False),
    ]
    rows = {(r.figure, r.size): r for r in figure_rows([r.as_dict() for r in records])}
    assert set(rows) == {
        ("RTF", "short"),
        ("RTF", "long"),
        ("RTF", "all"),
        ("TTFA", "short"),
        ("TTFA", "all"),
        ("E2E stream", "short"),
        ("E2E stream", "all"),
    }, "a failed request has no figures; nobody streamed a long text"
    assert (rows["RTF", "all"].count, rows["RTF", "all"].max, rows["RTF", "all"].unit) == (3, 1.5, "x")
    assert rows["RTF", "short"].mean == pytest.approx((0.5 + 0.25) / 2)
    assert (rows["TTFA", "all"].p95, rows["TTFA", "all"].unit) == (0.1, "s")
    assert rows["E2E stream", "short"].p50 == 0.5
    lines = figures_csv(list(rows.values())).splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and len(lines) == 8
    assert figure_rows([]) == [] and figures_csv([]) == ",".join(CSV_COLUMNS) + "\n"


@pytest.mark.parametrize(("rate", "seconds", "window"), [(3, 60, 10), (0.5, 600, 60), (100, 60, 1), (0.01, 9000, 600)])
def test_windows_hold_enough_requests(rate: float, seconds: float, window: int) -> None:
    """At 3 req/s a per-second p95 is a p95 of three requests; the window grows to hold ~20."""
    count = int(rate * seconds)
    records = [timed(i / rate, 0.0) for i in range(count)]
    assert window_seconds(records) == window
    if window < 600:
        assert rate * window >= REQUESTS_PER_WINDOW


def test_sparse_windows_are_not_drawn_as_percentiles() -> None:
    records = [timed(float(i), 0.5) for i in range(SPARSE_WINDOW)] + [timed(20.0, 9.0)]
    xs, ys = percentile_series(_bins(records, 0.0, 10), lambda r: r.latency, 95)
    assert (xs, ys) == ([5.0], [0.5]), "the lone request of the last window is no p95"
