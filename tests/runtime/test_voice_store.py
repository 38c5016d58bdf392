"""The voice library's store, the same behaviour over SQLite (a file) and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import TypeVar

import psycopg
import pytest

from tests.support.postgres import PostgresServer, postgres_server
from tests.support.processes import REPO, free_port, stop_process, wait_until
from voxdeploy.runtime.voices import store as store_module
from voxdeploy.runtime.voices.store import DuplicateVoice, StoredVoice, StoreUnavailable, VoiceStore, open_store

T = TypeVar("T")
ALL_BYTES = bytes(range(256))


def run(scenario: Callable[[VoiceStore], Awaitable[T]], url: str) -> T:
    """Run scenario against a store opened on url, closed afterwards."""

    async def main() -> T:
        store = open_store(url)
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One server for the module; each test that uses it starts from an empty table."""
    with postgres_server(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture
def empty_postgres(postgres: PostgresServer) -> PostgresServer:
    """The module's server, without the table an earlier test filled."""
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS voxdeploy_voices")
    return postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'voices.db'}"
    return request.getfixturevalue("empty_postgres").url


def test_create_get_list_and_delete_by_id_and_by_name(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([200, 100, 100, 300])  # the store's clock, one reading per create
    monkeypatch.setattr(store_module, "time", SimpleNamespace(time=lambda: next(clock)))

    async def scenario(store: VoiceStore) -> None:
        late = await store.create("late", "clone", transcript="hello there", audio=b"RIFF1", consent=b"yes")
        first = await store.create("first", "design", description="a calm baritone")
        second = await store.create("second", "lora", lora_path="/adapters/second")
        # a name that is another voice's id: the id wins
        shadow = await store.create(late.id, "design", description="shadow")
        assert (late.created_at, first.created_at, shadow.created_at) == (200, 100, 300)

        assert await store.get(late.id) == late
        assert await store.get("late") == late
        assert await store.get("Late") is None
        assert await store.get(shadow.id) == shadow
        fetched = await store.get("late")
        assert fetched is not None
        assert (fetched.audio, fetched.consent, fetched.transcript) == (b"RIFF1", b"yes", "hello there")
        assert await store.get("second") == second

        # oldest first, a tie by id; the listing leaves the bytes out
        same_second = sorted([first, second], key=lambda voice: voice.id)
        assert await store.list() == [*same_second, replace(late, audio=None, consent=None), shadow]

        assert await store.delete(late.id) == replace(late, audio=None, consent=None)
        assert await store.get("late") is None
        assert await store.get(late.id) == shadow  # no voice has that id now: the name matches
        assert await store.delete("first") == first
        assert await store.delete("first") is None
        assert await store.delete("nobody") is None
        assert [voice.name for voice in await store.list()] == ["second", late.id]

    run(scenario, url)


def test_a_duplicate_name_is_refused_and_named(url: str) -> None:
    async def scenario(store: VoiceStore) -> None:
        await store.create("Alice", "design", description="bright")
        await store.create("alice", "design", description="names are case-sensitive")
        with pytest.raises(DuplicateVoice, match=re.escape("a voice named 'Alice' already exists")):
            await store.create("Alice", "clone", audio=b"x")
        assert {voice.name for voice in await store.list()} == {"Alice", "alice"}

    run(scenario, url)


def test_an_unknown_kind_is_refused(url: str) -> None:
    async def scenario(store: VoiceStore) -> None:
        with pytest.raises(ValueError, match=re.escape("'preset' is not one of clone, design, lora")):
            await store.create("x", "preset")
        assert await store.list() == []

    run(scenario, url)


def test_ids_have_the_voice_shape_and_are_unique(url: str) -> None:
    async def scenario(store: VoiceStore) -> list[str]:
        return [(await store.create(f"v{i}", "design", description="d")).id for i in range(20)]

    ids = run(scenario, url)
    assert all(re.fullmatch(r"voice_[0-9a-f]{32}", voice_id) for voice_id in ids), ids
    assert len(set(ids)) == len(ids)


def test_blobs_round_trip_byte_exact(url: str) -> None:
    audio = ALL_BYTES * 40 + b"\x00"
    consent = b"\x00" + ALL_BYTES[::-1] + b"\x00\x00"

    async def scenario(store: VoiceStore) -> StoredVoice | None:
        created = await store.create("blobs", "clone", audio=audio, consent=consent)
        return await store.get(created.id)

    fetched = run(scenario, url)
    assert fetched is not None
    assert fetched.audio == audio
    assert fetched.consent == consent


def test_a_voice_deleted_through_one_replica_is_gone_from_another(url: str) -> None:
    async def scenario() -> None:
        one, two = open_store(url), open_store(url)
        try:
            voice = await one.create("shared", "design", description="seen everywhere")
            assert await two.get("shared") == voice
            assert await one.delete(voice.id) is not None
            assert await two.get(voice.id) is None
            assert await two.get("shared") is None
            assert await two.list() == []
            assert await two.delete("shared") is None
        finally:
            await one.close()
            await two.close()

    asyncio.run(scenario())


RACE = textwrap.dedent(
    """
    import asyncio, pathlib, sys, time
    from voxdeploy.runtime.voices.store import DuplicateVoice, open_store

    async def main():
        store = open_store(sys.argv[1])
        pathlib.Path(sys.argv[2] + ".ready").touch()
        while not pathlib.Path(sys.argv[3]).exists():
            time.sleep(0.005)
        try:
            await store.create("race", "design", description=sys.argv[2])
            print("created")
        except DuplicateVoice as exc:
            print(exc)
        finally:
            await store.close()

    asyncio.run(main())
    """
)


def test_two_processes_creating_the_same_name_at_once_one_wins(url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    racers = [str(tmp_path / f"racer{i}") for i in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, url, racer, str(go)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for racer in racers
    ]
    try:
        wait_until(lambda: all(Path(r + ".ready").exists() for r in racers), 60, "both racers to open the store")
        go.touch()
        results = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            stop_process(process)
    assert [process.returncode for process in processes] == [0, 0], results
    outputs = sorted(stdout.decode().strip() for stdout, _ in results)
    assert outputs == ["a voice named 'race' already exists", "created"], results
    winner = racers[[stdout.decode().strip() for stdout, _ in results].index("created")]

    async def scenario(store: VoiceStore) -> list[StoredVoice]:
        return await store.list()

    assert [(voice.name, voice.description) for voice in run(scenario, url)] == [("race", winner)]


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("mysql://voxdeploy@db/voices", "'mysql' is not one of sqlite, postgresql, postgres"),
        ("voices.db", "'' is not one of sqlite"),
        ("sqlite://voices.db", "sqlite:///relative/path.db"),
        ("sqlite:///", "sqlite:///relative/path.db"),
        ("postgresql://voxdeploy:s3cret@db:5432/voices", "PGPASSWORD"),
        ("postgres://voxdeploy@db/voices?password=s3cret", "PGPASSWORD"),
    ],
)
def test_bad_urls_are_refused_naming_the_problem(url: str, named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)) as raised:
        open_store(url)
    assert "s3cret" not in str(raised.value)


def test_an_unreachable_postgresql_is_unavailable_naming_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "hunter2-password")
    port = free_port()

    async def scenario(store: VoiceStore) -> None:
        with pytest.raises(StoreUnavailable) as raised:
            await store.list()
        message = str(raised.value)
        assert f"127.0.0.1:{port}" in message
        assert "hunter2" not in message

    run(scenario, f"postgresql://voxdeploy@127.0.0.1:{port}/postgres")


def test_a_sqlite_file_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    async def scenario(store: VoiceStore) -> None:
        with pytest.raises(StoreUnavailable, match=re.escape(f"sqlite:///{tmp_path}/missing/voices.db")):
            await store.get("anything")

    run(scenario, f"sqlite:///{tmp_path}/missing/voices.db")


def test_the_store_reconnects_after_postgresql_restarts(empty_postgres: PostgresServer) -> None:
    postgres = empty_postgres  # stopped and started on its data directory and port

    async def scenario(store: VoiceStore) -> None:
        voice = await store.create("survivor", "design", description="outlives a restart")
        postgres.stop()
        postgres.start()
        assert await store.get("survivor") == voice  # the broken connection is replaced on the first call
        postgres.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.get("survivor")
        assert time.monotonic() - started < 10
        postgres.start()
        assert await store.delete("survivor") == voice  # down once is not down for good
        assert await store.list() == []

    run(scenario, postgres.url)
