"""Processes a test run started and left running, found by a marker every child inherits.

The controller of a test run puts `VOXDEPLOY_TEST_SESSION=<uuid>` in its environment before any test
starts; every process started afterwards (xdist workers, `voxdeploy serve`, fakes, their children, even
re-parented orphans) carries it in /proc/<pid>/environ. At the end of the run, whatever still carries
it, besides the run's own pytest processes, was leaked by a test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

MARKER = "VOXDEPLOY_TEST_SESSION"
"""The environment variable naming the test run that started a process."""


def new_marker() -> str:
    return uuid.uuid4().hex


def _ancestors(pid: int) -> set[int]:
    """pid and the processes above it, up to init."""
    chain: set[int] = set()
    while pid > 0 and pid not in chain:
        chain.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        # the command name (field 2) may hold spaces and parentheses: the parent pid follows the last ')'
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return chain


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def leftover_processes(marker: str, exclude: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose environment has MARKER=marker.

    The current process and its ancestors are never listed, nor the pids in `exclude`; processes this
    user may not read (another user's) are skipped, zombies too (they are dead, only not yet reaped).
    """
    wanted = f"{MARKER}={marker}".encode()
    skip = _ancestors(os.getpid()) | set(exclude)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and wanted in environ.split(b"\0"):
            found.append((int(entry.name), _cmdline(int(entry.name))))
    return sorted(found)


def kill_leftovers(
    marker: str, exclude: set[int] | frozenset[int] = frozenset(), timeout: float = 5
) -> list[tuple[int, str]]:
    """SIGKILL every leftover process of the marker and wait until none is alive; returns those killed."""
    leftovers = leftover_processes(marker, exclude)
    for pid, _ in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    pids = {pid for pid, _ in leftovers}
    while pids & {pid for pid, _ in leftover_processes(marker, exclude)} and time.monotonic() < deadline:
        time.sleep(0.05)
    return leftovers
