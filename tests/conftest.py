"""Shared fixtures, and the end-of-run check that no test left a process running.

Helpers live in tests/support (stacks, processes, ...); this file holds fixtures and hooks only.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.orphans import MARKER, kill_leftovers, new_marker
from tests.support.processes import Served, start_serve


def pytest_configure(config: pytest.Config) -> None:
    # Before any test starts a process, so that every child inherits the marker. xdist workers keep
    # the one they inherited from the controller; a controller takes a fresh one even when one is set
    # already (a run started from inside another run), so it never judges the outer run's processes.
    if not hasattr(config, "workerinput") or MARKER not in os.environ:
        os.environ[MARKER] = new_marker()


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Iterator[None]:
    # after every other implementation: xdist's shuts its workers down, so only leaks are left
    yield
    if hasattr(session.config, "workerinput"):
        return
    leftovers = kill_leftovers(os.environ[MARKER])
    if leftovers:
        lines = [f"{len(leftovers)} process(es) started by tests were still running (killed now):"]
        lines += [f"  pid {pid}: {cmdline}" for pid, cmdline in leftovers]
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for line in lines:
            if reporter is not None:
                reporter.write_line(line, red=True)
            else:
                print(line, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def write_stack(tmp_path: Path) -> Callable[[dict], Path]:
    """Write a stack document (the whole file: {'config': {...}}) and return its path."""

    def write(document: dict, name: str = "broken") -> Path:
        path = tmp_path / f"Pulumi.{name}.yaml"
        path.write_text(yaml.safe_dump(document))
        return path

    return write


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start `voxdeploy serve` runtimes for one test; every one is stopped afterwards, whatever happened."""
    started: list[Served] = []

    def launch(*args: str, **kwargs: object) -> Served:
        served = start_serve(list(args), tmp_path / f"serve-{len(started)}.log", **kwargs)  # type: ignore[arg-type]
        started.append(served)
        return served

    try:
        yield launch
    finally:
        for served in started:
            served.stop(signal.SIGKILL, timeout=5)
