"""The voice library's store: SQLite embedded by default, PostgreSQL when replicas share it.

Every replica of the runtime reads the same store and nothing is cached between calls, so a voice deleted
through one replica is gone on all of them. Both backends run the same SQL (written with psycopg's `%s`
placeholders, which SQLite's `?` replaces) on a blocking connection behind a lock, in a worker thread.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import contextlib
import sqlite3
import threading
import time
import uuid
from dataclasses import astuple, dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

VOICE_KINDS = ("clone", "design", "lora")
SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long SQLite waits for another process's write lock on the shared file before giving up."""
CONNECT_TIMEOUT_S = 5
"""How long a PostgreSQL connection attempt may take before the store is reported unavailable."""

_TABLE = "voxdeploy_voices"
_SCHEMA = f"""CREATE TABLE IF NOT EXISTS {_TABLE} (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, created_at BIGINT NOT NULL,
    description TEXT, transcript TEXT, audio {{blob}}, consent {{blob}}, lora_path TEXT)"""
_COLUMNS = "id, name, kind, created_at, description, transcript, audio, consent, lora_path"
# The same columns without the audio bytes, for listings and deletions (the field order of StoredVoice).
_LIGHT = "id, name, kind, created_at, description, transcript, NULL, NULL, lora_path"
_INSERT = f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
_GET = f"SELECT {_COLUMNS} FROM {_TABLE} WHERE id = %s OR name = %s"
_LIST = f"SELECT {_LIGHT} FROM {_TABLE} ORDER BY created_at, id"
_DELETE = f"DELETE FROM {_TABLE} WHERE {{column}} = %s RETURNING {_LIGHT}"
_SCHEMES = ("sqlite", "postgresql", "postgres")

_Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class StoredVoice:
    """One voice of the library; `audio` and `consent` are None in listings, which stay cheap."""

    id: str
    name: str
    kind: str
    created_at: int
    description: str | None = None
    transcript: str | None = None
    audio: bytes | None = None
    consent: bytes | None = None
    lora_path: str | None = None


class DuplicateVoice(Exception):
    """A voice of that name exists already (names are unique across the store, case-sensitive)."""


class StoreUnavailable(Exception):
    """The database cannot be reached or queried; the message names the store and the reason."""


class VoiceStore(abc.ABC):
    """Where voices persist; a key is a voice's id or, when no id matches, its name.

    A backend supplies one blocking DB-API connection (`_execute`) and its error classes.
    """

    placeholder = "%s"
    blob = "BYTEA"
    _connection: Any = None  # the backend's DB-API connection, None until the first call and after close

    def __init__(
        self,
        where: str,
        integrity: type[Exception],
        failures: tuple[type[Exception], ...],
        schema_races: tuple[type[Exception], ...] = (),
    ) -> None:
        self._where = where
        self._integrity = integrity
        self._failures = failures
        self._schema_races = schema_races
        self._lock = threading.Lock()
        self._schema_ready = False

    @abc.abstractmethod
    def _execute(self, sql: str, params: tuple[object, ...]) -> _Rows:
        """Run one statement in autocommit mode, connecting first when not connected."""

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _run(self, sql: str, params: tuple[object, ...]) -> _Rows:
        with self._lock:
            try:
                if not self._schema_ready:
                    # PostgreSQL: of two processes creating the table at the same moment, one sees a conflict
                    # (a unique violation or a duplicate type) once the other has committed it
                    with contextlib.suppress(*self._schema_races):
                        self._execute(_SCHEMA.format(blob=self.blob), ())
                    self._schema_ready = True
                return self._execute(sql.replace("%s", self.placeholder), params)
            except self._integrity:
                raise  # a database error too, but the caller's to name (DuplicateVoice)
            except self._failures as exc:
                raise StoreUnavailable(f"voice store {self._where} is unavailable: {exc}") from exc

    async def _query(self, sql: str, *params: object) -> _Rows:
        return await asyncio.to_thread(self._run, sql, params)

    async def create(
        self,
        name: str,
        kind: str,
        *,
        description: str | None = None,
        transcript: str | None = None,
        audio: bytes | None = None,
        consent: bytes | None = None,
        lora_path: str | None = None,
    ) -> StoredVoice:
        """Add a voice; DuplicateVoice if the name is taken (of two concurrent creates, exactly one wins)."""
        if kind not in VOICE_KINDS:
            raise ValueError(f"voice kind {kind!r} is not one of {', '.join(VOICE_KINDS)}")
        voice = StoredVoice(
            f"voice_{uuid.uuid4().hex}",
            name,
            kind,
            int(time.time()),
            description,
            transcript,
            audio,
            consent,
            lora_path,
        )
        try:
            await self._query(_INSERT, *astuple(voice))
        except self._integrity as exc:  # the UNIQUE name, enforced by the database across processes
            raise DuplicateVoice(f"a voice named {name!r} already exists") from exc
        return voice

    async def get(self, key: str) -> StoredVoice | None:
        """The voice with its audio bytes, read from the store on every call (another replica may delete it)."""
        rows = sorted(await self._query(_GET, key, key), key=lambda row: row[0] != key)
        return StoredVoice(*rows[0]) if rows else None

    async def list(self) -> builtins.list[StoredVoice]:
        """Every voice, oldest first (ties by id), without the audio bytes."""
        return [StoredVoice(*row) for row in await self._query(_LIST)]

    async def delete(self, key: str) -> StoredVoice | None:
        """Remove a voice by id, else by name; what was removed (without its bytes), or None."""
        rows = await self._query(_DELETE.format(column="id"), key)
        rows = rows or await self._query(_DELETE.format(column="name"), key)
        return StoredVoice(*rows[0]) if rows else None

    async def close(self) -> None:
        def locked() -> None:
            with self._lock:
                self._disconnect()

        await asyncio.to_thread(locked)


class _SqliteStore(VoiceStore):
    """A file that several processes on one machine may share: WAL mode and a busy timeout."""

    placeholder = "?"
    blob = "BLOB"

    def __init__(self, path: str) -> None:
        super().__init__(f"sqlite:///{path}", sqlite3.IntegrityError, (sqlite3.Error,))
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def _execute(self, sql: str, params: tuple[object, ...]) -> _Rows:
        if self._connection is None:
            connection = sqlite3.connect(
                self._path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                connection.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                # SQLite does not wait out a lock for this switch: another process is switching the same new
                # file at this moment, and the journal mode is the file's, so it ends up in WAL all the same.
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
            self._connection = connection
        return self._connection.execute(sql, params).fetchall()


class _PostgresStore(VoiceStore):
    """A PostgreSQL database; a broken connection (the server restarted) is replaced once per call."""

    def __init__(self, url: str) -> None:
        import psycopg  # only clusters that use PostgreSQL need it

        races = (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject, psycopg.errors.DuplicateTable)
        super().__init__(url, psycopg.IntegrityError, (psycopg.Error,), races)
        self._psycopg = psycopg
        self._url = url
        self._connection: psycopg.Connection[tuple[Any, ...]] | None = None

    def _execute(self, sql: str, params: tuple[object, ...]) -> _Rows:
        try:
            return self._statement(sql, params)
        except self._psycopg.OperationalError:
            if self._connection is None or not self._connection.broken:
                raise
            self._disconnect()
            return self._statement(sql, params)  # once: a server still down raises again, the next call retries

    def _statement(self, sql: str, params: tuple[object, ...]) -> _Rows:
        if self._connection is None:
            self._connection = self._psycopg.connect(self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        cursor = self._connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def open_store(url: str) -> VoiceStore:
    """The store at `url`: `sqlite:///path` (`sqlite:////absolute/path`) or `postgresql://user@host:port/db`.

    Nothing is connected until the first call. A PostgreSQL password comes from PGPASSWORD (a Secret in a
    cluster), never from the URL, which ends up in logs, manifests and error messages.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if not url.startswith("sqlite:///") or url == "sqlite:///":
            raise ValueError("a SQLite voice store URL is sqlite:///relative/path.db or sqlite:////absolute/path.db")
        return _SqliteStore(url.removeprefix("sqlite:///"))
    if parts.scheme in ("postgresql", "postgres"):
        if parts.password is not None or "password" in parse_qs(parts.query):
            raise ValueError(
                "the voice store URL holds a password: give it in the PGPASSWORD environment variable "
                "(from a Secret), not in the URL"
            )
        return _PostgresStore(url)
    raise ValueError(f"voice store URL scheme {parts.scheme!r} is not one of {', '.join(_SCHEMES)}")
