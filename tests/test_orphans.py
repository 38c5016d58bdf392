"""The end-of-run check (tests/conftest.py) finds, kills and reports processes a test left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.orphans import MARKER, kill_leftovers, leftover_processes, new_marker
from tests.support.processes import run_to_end, wait_until
from tests.support.stacks import REPO


def test_a_process_carrying_the_marker_is_found_killed_and_gone() -> None:
    marker = new_marker()  # not this run's own: the real check must not see this test's process
    leaked = subprocess.Popen(["sleep", "300"], env={**os.environ, MARKER: marker})
    try:
        # Popen returns once exec has begun; the kernel fills /proc/<pid>/environ a moment later.
        wait_until(lambda: leftover_processes(marker) != [], 5, "the new process's environment to be readable")
        assert leftover_processes(marker) == [(leaked.pid, "sleep 300")]
        assert leftover_processes(new_marker()) == []
        assert kill_leftovers(marker) == [(leaked.pid, "sleep 300")]
        wait_until(lambda: leaked.poll() is not None, 5, "the leftover to die")
        assert leaked.returncode == -9
        assert leftover_processes(marker) == []
    finally:
        leaked.kill()
        leaked.wait()


def test_this_run_is_marked_and_the_check_spares_the_current_process() -> None:
    marker = os.environ[MARKER]
    assert marker
    assert os.getpid() not in {pid for pid, _ in leftover_processes(marker)}


LEAKING_TEST = """
import subprocess
from pathlib import Path

def test_starts_a_process_and_forgets_it():
    Path({pid_file!r}).write_text(str(subprocess.Popen(["sleep", "300"]).pid))
"""
TIDY_TEST = """
import subprocess

def test_starts_a_process_and_ends_it():
    process = subprocess.Popen(["sleep", "300"])
    process.kill()
    process.wait()
"""


def _run_pytest(tmp_path: Path, test_source: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """A nested pytest over one test file, with the suite's hooks (tests/conftest.py) as a plugin."""
    (tmp_path / "test_nested.py").write_text(test_source)
    command = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", *flags]
    return run_to_end([*command, "--rootdir", str(tmp_path), str(tmp_path)], 120, cwd=REPO)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("flags", [["-p", "no:xdist"], ["-n", "1"]], ids=["one-process", "xdist"])
def test_a_run_whose_test_leaks_a_process_fails_naming_it_and_kills_it(tmp_path: Path, flags: list[str]) -> None:
    pid_file = tmp_path / "leaked.pid"
    result = _run_pytest(tmp_path, LEAKING_TEST.format(pid_file=str(pid_file)), *flags)
    output = result.stdout + result.stderr
    pid = int(pid_file.read_text())
    try:
        assert result.returncode == pytest.ExitCode.TESTS_FAILED, output
        assert "1 passed" in output, output
        assert f"pid {pid}: sleep 300" in output, output
        wait_until(lambda: not _alive(pid), 5, "the leftover sleep to be gone")
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_run_whose_tests_end_their_processes_passes_under_xdist(tmp_path: Path) -> None:
    """The xdist workers carry the run's marker too: the check must not take them for leftovers."""
    result = _run_pytest(tmp_path, TIDY_TEST, "-n", "1")
    assert result.returncode == pytest.ExitCode.OK, result.stdout + result.stderr
    assert "still running" not in result.stdout + result.stderr
