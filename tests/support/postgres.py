"""A real PostgreSQL server for a test, from Debian's `postgresql` package (tests/run.sh's CI installs it).

PostgreSQL refuses to run as root, and this machine and CI run the tests as root: then initdb and the server
run as the `postgres` user the package creates (`nobody` if it is missing), on a data directory they own in
the system temporary directory (pytest's tmp_path is only root's to enter).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.processes import descendants, free_port, run_to_end

BIN_GLOB = "/usr/lib/postgresql/*/bin"
"""Where Debian's packages put one directory of server binaries per major version."""
INITDB_OPTIONS = ("--no-locale", "--encoding=UTF8", "--no-sync")
"""A throwaway cluster: no locale to depend on the machine's, no fsync of what the test deletes anyway."""


def binary(name: str) -> str:
    """`name` (initdb, postgres) from PATH, else from the newest /usr/lib/postgresql/<version>/bin; fails if none."""
    newest_first = sorted(glob.glob(BIN_GLOB), key=lambda path: _version(Path(path).parent.name), reverse=True)
    for path in [None, *newest_first]:
        if found := shutil.which(name, path=path):
            return found
    pytest.fail(
        f"PostgreSQL's {name} is neither on PATH nor under {BIN_GLOB}: install Debian's `postgresql` package "
        "(apt-get install postgresql; CI installs it)",
        pytrace=False,
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _unprivileged() -> dict[str, Any]:
    """subprocess.Popen arguments that run a child as the `postgres` user (`nobody` if missing) when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        user = pwd.getpwnam("nobody")
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


class PostgresServer:
    """A fresh cluster (superuser `voxdeploy`, trust auth) on a loopback port; start() and stop() repeat on the
    same data directory and port, so a test can restart it under a client."""

    def __init__(self, log: Path) -> None:
        self._initdb, self._postgres = binary("initdb"), binary("postgres")
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as = _unprivileged()
        self._root = Path(tempfile.mkdtemp(prefix="voxdeploy-postgres-"))
        self._data = self._root / "data"
        self._sockets = self._root / "sockets"
        self._sockets.mkdir()
        if self._as:
            for path in (self._root, self._sockets):
                os.chown(path, self._as["user"], self._as["group"])
        done = run_to_end(
            [self._initdb, "-D", str(self._data), "-U", "voxdeploy", "--auth=trust", *INITDB_OPTIONS],
            timeout=120,
            cwd=self._root,
            **self._as,
        )
        if done.returncode != 0:
            shutil.rmtree(self._root, ignore_errors=True)
            raise AssertionError(f"initdb failed:\n{done.stdout}{done.stderr}")

    @property
    def url(self) -> str:
        return f"postgresql://voxdeploy@127.0.0.1:{self.port}/postgres"

    def accepts(self) -> bool:
        try:
            psycopg.connect(self.url, connect_timeout=1).close()
        except psycopg.OperationalError:
            return False
        return True

    def start(self, timeout: float = 60.0) -> None:
        command = [self._postgres, "-D", str(self._data), "-k", str(self._sockets), "-h", "127.0.0.1"]
        command += ["-p", str(self.port), "-c", "fsync=off", "-c", "full_page_writes=off"]
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                command,
                cwd=self._root,
                stdout=handle,
                stderr=subprocess.STDOUT,
                **self._as,
            )
        deadline = time.monotonic() + timeout
        while not self.accepts():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"PostgreSQL did not start on port {self.port}:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGINT is PostgreSQL's fast shutdown (clients are disconnected, not waited for); SIGKILL after
        `timeout`, with whatever the postmaster had forked."""
        if self.process is None:
            return
        below = descendants(self.process.pid) if self.process.poll() is None else []
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process = None

    def remove(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(tmp_path: Path) -> Iterator[PostgresServer]:
    """A started PostgresServer, its log in tmp_path; stopped and removed at the end."""
    server = None
    try:
        server = PostgresServer(tmp_path / "postgres.log")
        server.start()
        yield server
    finally:
        if server is not None:
            server.remove()


@contextlib.contextmanager
def running_postgres(tmp_path: Path) -> Iterator[str]:
    """The URL of a running PostgreSQL server (no password: trust auth on loopback), stopped at the end."""
    with postgres_server(tmp_path) as server:
        yield server.url
