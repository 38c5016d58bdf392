"""The batch runner's pure parts: reading and checking the input (every problem named by its line), the store
(atomic files, a journal a kill may cut short, OpenAI's batch output shape) and the pacing (AIMD, Retry-After)."""

from __future__ import annotations

import email.utils
import json
import random
from pathlib import Path

import pytest

from voxdeploy.loadtests.batch.inputs import BatchRequest, read_input, shard
from voxdeploy.loadtests.batch.pacing import REPROBE_WINDOWS, Concurrency, backoff_seconds, retry_after_seconds
from voxdeploy.loadtests.batch.store import BatchStore, Outcome, batch_output_line


def line(custom_id: object = "a", **body: object) -> str:
    item = {"custom_id": custom_id, "method": "POST", "url": "/v1/audio/speech", "body": {"input": "Hello.", **body}}
    return json.dumps(item)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- input -----------------------------------------------------------------------------------------------------


def test_openai_batch_lines_become_whole_file_requests(tmp_path: Path) -> None:
    batch = read_input(write(tmp_path, "in.jsonl", line("a") + "\n\n" + line("b", response_format="mp3") + "\n"))
    assert batch.problems == []
    assert [(r.line, r.custom_id, r.response_format) for r in batch.requests] == [(1, "a", "wav"), (3, "b", "mp3")]
    assert all(r.body["stream"] is False for r in batch.requests), "a batch writes whole files"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"custom_id": "a", "method": "GET", "url": "/v1/audio/speech", "body": {}}), "method must be POST"),
        (json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}), "url must be"),
        (
            json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/audio/speech", "body": {}, "x": 1}),
            "unknown key",
        ),
        (line(7), "custom_id must be a string"),
        (line("../etc/passwd"), "custom_id '../etc/passwd' must match"),
        (line("a", input=""), "body.input must be a non-empty string"),
        (line("a", response_format="ogg"), "body.response_format 'ogg' is not one of mp3"),
        (line("a", stream=True), "a batch writes whole files"),
        (line("a", speed=9), "body.speed 9 must be a number from 0.25 to 4.0"),
    ],
)
def test_a_bad_line_is_named_by_its_number_and_the_rest_still_runs(tmp_path: Path, text: str, words: str) -> None:
    batch = read_input(write(tmp_path, "in.jsonl", "\n".join([line("first"), text, line("last")])))
    assert [r.custom_id for r in batch.requests] == ["first", "last"]
    assert len(batch.problems) == 1 and batch.problems[0].line == 2 and words in str(batch.problems[0]), batch.problems


def test_a_custom_id_given_twice_names_both_lines(tmp_path: Path) -> None:
    batch = read_input(write(tmp_path, "in.jsonl", "\n".join([line("a"), line("b"), line("a")])))
    assert [r.custom_id for r in batch.requests] == ["a", "b"]
    assert [str(p) for p in batch.problems] == ["line 3: custom_id 'a' is already used on line 1"]


def test_plain_text_is_one_request_a_line(tmp_path: Path) -> None:
    batch = read_input(write(tmp_path, "lessons.txt", "First paragraph.\n\n  Second one.  \n"))
    assert [(r.custom_id, r.body["input"]) for r in batch.requests] == [
        ("line-1", "First paragraph."),
        ("line-3", "Second one."),
    ]


def test_csv_takes_a_text_column_ids_and_request_fields(tmp_path: Path) -> None:
    text = 'custom_id,text,voice,speed\nintro,"Hello, class.",calm,1.25\n,Second,,\n'
    batch = read_input(write(tmp_path, "lessons.csv", text))
    assert batch.problems == []
    first, second = batch.requests
    assert (first.custom_id, first.body["input"], first.body["voice"], first.body["speed"]) == (
        "intro",
        "Hello, class.",
        "calm",
        1.25,
    )
    assert second.custom_id == "line-3" and "voice" not in second.body


@pytest.mark.parametrize(
    ("header", "words"), [("custom_id,words\n", "needs a 'text' or 'input' column"), ("text,pitch\n", "unknown column")]
)
def test_a_csv_without_usable_columns_is_refused_naming_them(tmp_path: Path, header: str, words: str) -> None:
    batch = read_input(write(tmp_path, "in.csv", header + "a,b\n"))
    assert batch.requests == [] and words in str(batch.problems[0])


def test_shards_split_every_nth_request_and_cover_the_batch() -> None:
    requests = [BatchRequest(i, f"r{i}", {"input": "x", "response_format": "wav"}) for i in range(10)]
    shards = [shard(requests, index, 3) for index in range(3)]
    assert sorted(r.custom_id for s in shards for r in s) == sorted(r.custom_id for r in requests)
    assert [len(s) for s in shards] == [4, 3, 3]


# --- store ------------------------------------------------------------------------------------------------------

REQUEST = BatchRequest(1, "p-1", {"input": "x", "response_format": "wav"})


def made(store: BatchStore, data: bytes = b"RIFF....") -> Outcome:
    file = store.write_audio(REQUEST, data)
    outcome = Outcome("p-1", 200, 1, 0.5, file=file, bytes=len(data), audio_seconds=2.0, sample_rate=24000)
    store.record(outcome)
    return outcome


def test_a_file_is_in_place_whole_or_not_at_all(tmp_path: Path) -> None:
    store = BatchStore(tmp_path)
    made(store)
    assert [p.name for p in store.audio.iterdir()] == ["p-1.wav"], "no temporary left behind"
    assert set(store.done()) == {"p-1"}


def test_a_journal_line_cut_short_by_a_kill_is_skipped(tmp_path: Path) -> None:
    store = BatchStore(tmp_path)
    made(store)
    with store.journal.open("a") as handle:
        handle.write('{"custom_id": "p-2", "status": 2')
    assert set(store.latest()) == {"p-1"}


def test_a_file_that_is_not_what_the_journal_says_is_made_again(tmp_path: Path) -> None:
    store = BatchStore(tmp_path)
    made(store)
    store.audio_path(REQUEST).write_bytes(b"RIFF")  # shorter than recorded
    assert store.done() == {}
    store.audio_path(REQUEST).unlink()
    assert store.done() == {}


def test_a_failure_recorded_after_a_success_is_not_done(tmp_path: Path) -> None:
    store = BatchStore(tmp_path)
    made(store)
    store.record(Outcome("p-1", 400, 1, 0.1, error={"message": "bad"}, cause="http_400"))
    assert store.done() == {}


def test_temporaries_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    store = BatchStore(tmp_path)
    (store.audio / ".p-9.wav.abcd.tmp").write_bytes(b"half")
    assert store.clean_temporaries() == 1 and list(store.audio.iterdir()) == []


def test_output_lines_have_openais_batch_shape() -> None:
    ok = batch_output_line(Outcome("a", 200, 1, 0.5, file="audio/a.wav", bytes=10, audio_seconds=2.0, request_id="r"))
    assert ok["id"].startswith("batch_req_") and ok["error"] is None
    assert ok["response"]["status_code"] == 200 and ok["response"]["body"]["rtf"] == 0.25
    refused = batch_output_line(Outcome("b", 400, 1, 0.1, error={"message": "voice 'x' does not exist"}))
    assert refused["response"]["body"] == {"error": {"message": "voice 'x' does not exist"}}
    lost = batch_output_line(Outcome("c", None, 6, 10.0, error={"code": "connect", "message": "refused"}))
    assert lost["response"] is None and lost["error"] == {"code": "connect", "message": "refused"}


# --- pacing ----------------------------------------------------------------------------------------------------


def feed(concurrency: Concurrency, throughput: dict[int, float], windows: int) -> list[int]:
    """Run `windows` windows where each limit completes at throughput[limit] requests/s; the limits seen."""
    now, seen = 0.0, []
    concurrency.start(now)
    for _ in range(windows):
        limit = concurrency.limit
        seen.append(limit)
        rate = throughput[min(limit, max(throughput))]
        for _ in range(max(8, 2 * limit)):
            now += 1 / rate
            concurrency.on_done(0.1, 1.0, now)
    return seen


def test_a_fixed_concurrency_never_moves() -> None:
    assert set(feed(Concurrency(4, 64, adaptive=False), {4: 10.0}, 10)) == {4}


def test_adaptive_climbs_while_throughput_rises_then_holds_at_the_knee() -> None:
    knee = {n: 10.0 * min(n, 6) for n in range(1, 65)}  # more than 6 in flight is no faster
    seen = feed(Concurrency(1, 64, adaptive=True), knee, 20)
    assert seen[:5] == [1, 2, 4, 8, 16], "slow start: doubling while faster"
    assert seen[5 : 5 + REPROBE_WINDOWS] == [8] * REPROBE_WINDOWS, "back to the last faster limit, held there"
    assert seen[5 + REPROBE_WINDOWS : 7 + REPROBE_WINDOWS] == [9, 8], "a probe one higher, no faster: back"


def test_overload_halves_once_per_window() -> None:
    concurrency = Concurrency(16, 64, adaptive=True)
    concurrency.start(0.0)
    for _ in range(5):
        concurrency.on_overload(1.0)
    assert concurrency.limit == 8


def test_rtf_far_above_the_best_is_overload_whatever_the_latency() -> None:
    concurrency = Concurrency(2, 64, adaptive=True)
    concurrency.start(0.0)
    for i in range(8):  # short and long texts: latencies 1 s and 10 s, the same RTF
        concurrency.on_done(0.1, 10.0 if i % 2 else 1.0, i * 0.1)
    assert concurrency.limit == 4, "no slower per second of audio: slow start doubles"
    for i in range(12):
        concurrency.on_done(0.5, 1.0, 1 + i * 0.1)
    assert concurrency.limit == 2, "five times the best RTF and less audio per second: halved"


def test_retry_after_is_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("3", 0.0) == 3.0
    now = 1_800_000_000.0
    assert retry_after_seconds(email.utils.formatdate(now + 5, usegmt=True), now) == pytest.approx(5.0, abs=1)
    assert retry_after_seconds(None, now) is None and retry_after_seconds("soon", now) is None


def test_backoff_is_jittered_and_capped() -> None:
    rng = random.Random(1)
    waits = [backoff_seconds(attempt, rng=rng) for attempt in range(20)]
    assert all(0 <= wait <= 30 for wait in waits) and len(set(waits)) == 20


def test_a_start_above_the_maximum_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency 9 must be from 1 to the maximum 8"):
        Concurrency(9, 8, adaptive=True)


def test_a_refusal_after_an_answer_at_the_new_limit_halves_again() -> None:
    concurrency = Concurrency(16, 64, adaptive=True)
    concurrency.start(0.0)
    concurrency.on_overload(1.0)
    concurrency.on_done(0.1, 1.0, 1.5)
    concurrency.on_overload(2.0)
    assert concurrency.limit == 4


def test_slower_answers_that_bring_more_audio_are_not_overload() -> None:
    concurrency = Concurrency(2, 64, adaptive=True)
    concurrency.start(0.0)
    for i in range(8):
        concurrency.on_done(0.1, 1.0, (i + 1) * 0.1)
    assert concurrency.limit == 4
    for i in range(8):  # four times the RTF, twice the audio per second
        concurrency.on_done(0.4, 1.0, 0.8 + (i + 1) * 0.05)
    assert concurrency.limit == 8
