"""`voxdeploy batch run` as real processes against a real `voxdeploy serve --engine sim` on 127.0.0.1: every format
written whole and valid (read back by an independent decoder), a kill -9 in the middle and a re-run ending with
exactly one complete file per request, 429s waited out, refusals recorded and retried alone, shards by index."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.audio_decode import decode
from tests.support.processes import REPO, run_to_end, wait_until
from voxdeploy.contracts.runtime import ResponseFormat
from voxdeploy.loadtests.batch.store import EXTENSIONS

FORMATS = list(ResponseFormat.__args__)  # type: ignore[attr-defined]
TEXT = "A paragraph of the lesson, read aloud for the course."


def requests_file(tmp_path: Path, count: int, **body: object) -> Path:
    path = tmp_path / "requests.jsonl"
    lines = [
        {
            "custom_id": f"p-{index:04d}",
            "method": "POST",
            "url": "/v1/audio/speech",
            "body": {"input": f"{TEXT} Paragraph {index}.", "response_format": FORMATS[index % len(FORMATS)], **body},
        }
        for index in range(count)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def batch_command(source: Path, out: Path, host: str, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "voxdeploy",
        "batch",
        "run",
        "-i",
        str(source),
        "-o",
        str(out),
        "--host",
        host,
        *flags,
    ]


def batch(source: Path, out: Path, host: str, *flags: str, env: dict[str, str] | None = None):
    return run_to_end(
        batch_command(source, out, host, *flags), timeout=240, cwd=REPO, env={**os.environ, **(env or {})}
    )


def results(out: Path, name: str = "results.jsonl") -> list[dict]:
    return [json.loads(line) for line in (out / name).read_text().splitlines()]


def assert_every_file_whole(out: Path, expected: int) -> None:
    """Exactly one complete file per request: decodable, as long as the results say, nothing half-written."""
    lines = results(out)
    assert len(lines) == expected and len({line["custom_id"] for line in lines}) == expected
    assert not list((out / "audio").glob(".*")), "no temporary left"
    assert len(list((out / "audio").iterdir())) == expected
    for line in lines:
        body = line["response"]["body"]
        fmt = next(f for f in FORMATS if body["file"].endswith("." + EXTENSIONS[f]))
        samples, rate = decode(fmt, (out / body["file"]).read_bytes(), body["sample_rate"], whole=True)
        assert rate == body["sample_rate"] and abs(len(samples) / rate - body["audio_seconds"]) < 0.1, line


@pytest.fixture
def host(serve) -> str:
    return serve("--engine", "sim", "--sim-rtf", "0.02", "--sim-first-audio", "0.01").url


def test_a_batch_writes_every_format_whole_with_results_and_a_summary(host: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = batch(requests_file(tmp_path, 12), out, host, "-c", "3")
    assert run.returncode == 0, run.stderr
    assert_every_file_whole(out, 12)
    assert [line["custom_id"] for line in results(out)] == [f"p-{i:04d}" for i in range(12)], "input order"
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["requests"], summary["succeeded"], summary["failed"], summary["engine"]) == (12, 12, 0, "sim")
    assert summary["audio_hours"] > 0 and summary["rtf_p50"] > 0
    assert "audio-hours per hour" in run.stdout and "p90" in run.stdout


def test_kill_9_in_the_middle_then_a_rerun_leaves_exactly_one_valid_file_per_request(serve, tmp_path: Path) -> None:
    served = serve("--engine", "sim", "--sim-rtf", "0.1", "--sim-first-audio", "0.01")
    source, out = requests_file(tmp_path, 40), tmp_path / "out"
    process = subprocess.Popen(
        batch_command(source, out, served.url, "-c", "4"), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    journal = out / "journal.jsonl"
    try:
        wait_until(lambda: journal.exists() and len(journal.read_text().splitlines()) >= 8, 120, "8 requests done")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    done_before = len(journal.read_text().splitlines())
    assert 8 <= done_before < 40, "killed in the middle"

    rerun = batch(source, out, served.url, "-c", "4")
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"] >= 8 and summary["skipped"] + summary["succeeded"] == 40, summary
    assert_every_file_whole(out, 40)
    print(
        f"\nkilled after {done_before} of 40; the re-run skipped {summary['skipped']} and made {summary['succeeded']}"
    )


def test_429s_are_waited_out_as_retry_after_says(serve, tmp_path: Path) -> None:
    served = serve("--engine", "sim", "--sim-rtf", "0.02", "--max-concurrent", "1", "--max-queue", "0")
    out = tmp_path / "out"
    run = batch(requests_file(tmp_path, 8), out, served.url, "-c", "4", "--adaptive")
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["succeeded"] == 8 and summary["retries"] > 0, summary
    assert summary["final_concurrency"] <= 2, "AIMD halved on the server's refusals"


def test_refusals_are_recorded_not_retried_and_a_rerun_sends_only_them(host: str, tmp_path: Path) -> None:
    source = requests_file(tmp_path, 6)
    lines = source.read_text().splitlines()
    bad = json.loads(lines[2])
    bad["body"]["voice"] = "nobody"
    source.write_text("\n".join([*lines[:2], json.dumps(bad), *lines[3:]]) + "\n")
    out = tmp_path / "out"
    first = batch(source, out, host)
    assert first.returncode == 1
    refused = next(line for line in results(out) if line["custom_id"] == "p-0002")
    assert refused["response"]["status_code"] == 400 and "nobody" in refused["response"]["body"]["error"]["message"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures_by_cause"] == {"http_400": 1} and summary["retries"] == 0

    again = batch(source, out, host)
    assert again.returncode == 1
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["skipped"], summary["succeeded"], summary["failed"]) == (5, 0, 1), "only the failure was sent"


def test_strict_sends_nothing_when_a_line_is_bad(host: str, tmp_path: Path) -> None:
    source = requests_file(tmp_path, 3)
    source.write_text(source.read_text() + "{broken\n")
    out = tmp_path / "out"
    strict = batch(source, out, host, "--strict")
    assert strict.returncode == 2 and "line 4: not JSON" in strict.stderr
    assert not (out / "journal.jsonl").exists()
    lenient = batch(source, out, host)
    assert lenient.returncode == 1 and "line 4: not JSON" in lenient.stderr and len(results(out)) == 3


def test_indexed_job_shards_cover_the_batch_once(host: str, tmp_path: Path) -> None:
    source, out = requests_file(tmp_path, 7), tmp_path / "out"
    for index in ("0", "1"):
        run = batch(source, out, host, "--shards", "2", env={"JOB_COMPLETION_INDEX": index})
        assert run.returncode == 0, run.stderr
    ids = [[line["custom_id"] for line in results(out, f"results-{i}.jsonl")] for i in (0, 1)]
    assert sorted(ids[0] + ids[1]) == [f"p-{i:04d}" for i in range(7)] and not set(ids[0]) & set(ids[1])
    assert len(list((out / "audio").iterdir())) == 7


@pytest.mark.parametrize(
    ("flags", "env", "words"),
    [
        (("--shards", "2", "--shard-index", "2"), {}, "shard index 2 must be from 0 to 1"),
        (("--shards", "2"), {"JOB_COMPLETION_INDEX": "x"}, "is not a shard number"),
        (("-c", "0"), {}, "--concurrency and --max-concurrency must be at least 1"),
    ],
)
def test_bad_flags_are_refused_naming_them(tmp_path: Path, flags: tuple[str, ...], env: dict, words: str) -> None:
    run = batch(requests_file(tmp_path, 1), tmp_path / "out", "http://127.0.0.1:9", *flags, env=env)
    assert run.returncode == 2 and words in run.stderr, run.stderr
