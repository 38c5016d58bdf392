"""`voxdeploy loadtest` and `voxdeploy demo` for real: Locust against the simulator on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

from tests.support.processes import free_port, is_ready, run_to_end, stop_process, wait_until
from tests.support.stacks import REPO, read_stack_file
from voxdeploy.loadtests.summary import schema


def voxdeploy(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_to_end([sys.executable, "-m", "voxdeploy", *args], timeout, cwd=REPO)


def stack_with_slo(tmp_path: Path, **slo: float) -> Path:
    document = read_stack_file("dev")
    document["config"]["voxdeploy:slo"] = slo
    path = tmp_path / "Pulumi.gate.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory):
    """A simulator whose RTF is known: 0.2, no first-audio delay worth counting, room for every user."""
    from tests.support.processes import start_serve

    served = start_serve(
        [
            "--engine",
            "sim",
            "--sim-rtf",
            "0.2",
            "--sim-first-audio",
            "0.01",
            "--sim-batch-capacity",
            "32",
            "--max-concurrent",
            "32",
        ],
        tmp_path_factory.mktemp("sim") / "serve.log",
    )
    try:
        yield served
    finally:
        served.stop()


def loadtest(host: str, stack: Path, report: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return voxdeploy(
        "loadtest",
        "--stack",
        str(stack),
        "--host",
        host,
        "--users",
        "3",
        "--spawn-rate",
        "10",
        "--duration",
        "5s",
        "--report",
        str(report),
        *extra,
    )


def test_generous_slo_passes_and_reports_are_written(calibrated, tmp_path: Path) -> None:
    stack = stack_with_slo(tmp_path, minQps=0.1, p95LatencySeconds=30, p95Rtf=1.0, maxErrorRatio=0.05)
    result = loadtest(calibrated.url, stack, tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate PASSED" in result.stdout
    assert "[voxdeploy]" in result.stderr and "req/s" in result.stderr, "a live progress line"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    jsonschema.validate(summary, schema())
    assert summary["passed"] is True and summary["parameters"]["users"] == 3
    for name in summary["files"].values():
        assert (tmp_path / "out" / name).is_file(), name
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5
    stats = (tmp_path / "out" / "locust_stats.csv").read_text()
    assert "RTF" in stats and "TTFA" in stats, "custom figures reach Locust's own stats"


def test_strict_slo_fails_naming_the_target(calibrated, tmp_path: Path) -> None:
    stack = stack_with_slo(tmp_path, minQps=0.1, p95LatencySeconds=30, p95Rtf=0.05, maxErrorRatio=0.05)
    result = loadtest(calibrated.url, stack, tmp_path / "out")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "gate FAILED: p95Rtf" in result.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [v["target"] for v in summary["verdicts"] if not v["passed"]] == ["p95Rtf"]


def test_measured_rtf_matches_the_simulators(calibrated, tmp_path: Path) -> None:
    """Long whole responses, fewer users than the batch holds: measured RTF = configured 0.2 (+ overhead)."""
    stack = stack_with_slo(tmp_path, minQps=0.01, p95LatencySeconds=60, p95Rtf=5, maxErrorRatio=0)
    result = loadtest(calibrated.url, stack, tmp_path / "out", "--sizes", "long=1", "--stream-ratio", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    measured = json.loads((tmp_path / "out" / "summary.json").read_text())["measured"]
    assert 0.2 <= measured["rtf_p50"] <= 0.2 * 1.15, measured


def test_processes_merge_their_results(calibrated, tmp_path: Path) -> None:
    stack = stack_with_slo(tmp_path, minQps=0.1, p95LatencySeconds=30, p95Rtf=1.0, maxErrorRatio=0.05)
    result = loadtest(calibrated.url, stack, tmp_path / "out", "--processes", "2", "--users", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    records = (tmp_path / "out" / "requests.jsonl").read_text().splitlines()
    assert summary["measured"]["requests"] == len(records) > 4


def test_dead_host_exits_2_quickly(tmp_path: Path) -> None:
    stack = stack_with_slo(tmp_path, minQps=1, p95LatencySeconds=1, p95Rtf=1, maxErrorRatio=0)
    result = voxdeploy(
        "loadtest",
        "--stack",
        str(stack),
        "--host",
        f"http://127.0.0.1:{free_port()}",
        "--duration",
        "30s",
        "--report",
        str(tmp_path / "out"),
        timeout=30,
    )
    assert result.returncode == 2
    assert "cannot reach http://127.0.0.1:" in result.stderr


class _Failing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"error": {"message": "engine on fire", "type": "server_error"}}'
        self.send_response(500)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_host_that_errors_fails_the_error_ratio(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        stack = stack_with_slo(tmp_path, minQps=0, p95LatencySeconds=30, p95Rtf=1, maxErrorRatio=0.01)
        result = loadtest(f"http://127.0.0.1:{server.server_port}", stack, tmp_path / "out", "--duration", "3s")
    finally:
        server.shutdown()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "maxErrorRatio" in result.stdout.split("gate FAILED:")[1]
    # Our own records, not locust_failures.csv: Locust writes that CSV from a timer and it has come back
    # empty under load (locust 2.47 stats.py: the CSV greenlet flushes every CSV_STATS_FLUSH_INTERVAL_SEC = 5 s).
    records = [json.loads(line) for line in (tmp_path / "out" / "requests.jsonl").read_text().splitlines()]
    assert records and all(not r["ok"] and r["error"] == "HTTP 500: engine on fire" for r in records)


def test_benchmark_scenario_prints_the_article_table(calibrated, tmp_path: Path) -> None:
    stack = stack_with_slo(tmp_path, minQps=0.1, p95LatencySeconds=30, p95Rtf=1.0, maxErrorRatio=0.05)
    result = voxdeploy(
        "loadtest",
        "--stack",
        str(stack),
        "--host",
        calibrated.url,
        "--scenario",
        "benchmark",
        "--levels",
        "1,3",
        "--duration",
        "3s",
        "--sizes",
        "short=1",
        "--report",
        str(tmp_path / "b"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["CONCURRENCY", "MEAN", "LATENCY"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "3"]
    assert len(json.loads((tmp_path / "b" / "benchmark.json").read_text())) == 2


def test_demo_is_the_whole_product_on_one_machine(tmp_path: Path) -> None:
    result = voxdeploy("demo", "--duration", "5s", "--report", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rendered the dev stack" in result.stdout and "gate PASSED" in result.stdout
    assert (tmp_path / "demo" / "rendered" / "kustomization.yaml").is_file()
    assert (tmp_path / "demo" / "loadtest" / "report.html").is_file()


def listening(url: str) -> bool:
    try:
        httpx.get(f"{url}/health", timeout=1.0)
    except httpx.TransportError:
        return False
    return True


def test_a_killed_demo_takes_its_runtime_with_it(tmp_path: Path) -> None:
    """SIGKILL leaves the demo no chance to stop the runtime it started in a session of its own: the kernel's
    parent-death signal must, or the runtime keeps serving as an orphan."""
    command = [sys.executable, "-m", "voxdeploy", "demo", "--duration", "60s", "--report", str(tmp_path / "demo")]
    demo = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert demo.stdout is not None
        line = next(line for line in demo.stdout if line.startswith("starting the runtime:"))
        url = f"http://127.0.0.1:{line.split('--port')[1].split()[0]}"
        wait_until(lambda: is_ready(url), 60, "the demo's runtime to be ready")
        demo.kill()
        demo.wait(10)
        wait_until(lambda: not listening(url), 30, "the demo's runtime to stop after the demo was killed")
    finally:
        stop_process(demo)
