"""A real Prometheus (Debian's `prometheus`) on 127.0.0.1 for the tests that query one, and the load they scrape.

Started with an explicit command line in its own session and stopped by process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import yaml

from tests.support.observability import binary
from tests.support.processes import free_port, wait_until


def start_prometheus(work: Path, config: dict) -> tuple[subprocess.Popen[bytes], str]:
    """Prometheus with `config` (prometheus.yml as a dict), its data and log in `work`; returns (process, URL)."""
    server = binary("prometheus")
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            server,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: ready(url) or process.poll() is not None, 30, "Prometheus to be ready")
        assert process.poll() is None, (work / "prometheus.log").read_text()
    except BaseException:
        stop(process)
        raise
    return process, url


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def ready(url: str) -> bool:
    try:
        return httpx.get(url + "/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def query(url: str, expr: str) -> dict:
    return httpx.get(url + "/api/v1/query", params={"query": expr}, timeout=10).json()


def load(url: str, seconds: float, threads: int = 4) -> list[int]:
    """A few clients posting short texts back to back for a while; returns the status codes."""
    codes: list[int] = []
    deadline = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < deadline:
                body = {"model": "openbmb/VoxCPM2", "input": "Hello there.", "voice": "default"}
                codes.append(http.post(url + "/v1/audio/speech", json=body).status_code)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return codes
