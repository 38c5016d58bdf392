"""`voxdeploy loadtest` and `voxdeploy demo` for real: Locust against the simulator on 127.0.0.1."""

from __future__ import annotations

import csv
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
from voxdeploy.loadtests.runner import FIGURES_CSV
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


def locust_report_statistics(path: Path) -> list[dict]:
    """The request table of Locust's HTML report, from the `window.templateArgs` JSON its page is drawn from
    (Locust 2.47's report template). locust_stats.csv is no substitute: Locust rewrites it once a second while it
    runs, so requests that end in the run's last second are missing from it."""
    text = path.read_text(encoding="utf-8")
    start = text.index("templateArgs = ") + len("templateArgs = ")
    args, _ = json.JSONDecoder().raw_decode(text, start)
    return args["requests_statistics"]


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
    assert summary["engine"] == "sim" and summary["simulated"] is True
    assert summary["started_at"] < summary["finished_at"]
    assert "Engine: <b>sim (simulator" in html
    stats = locust_report_statistics(tmp_path / "out" / "locust.html")
    assert all(row["name"].startswith("speech ") for row in stats if row["name"] != "Aggregated"), stats
    aggregated = next(row for row in stats if row["name"] == "Aggregated")
    assert aggregated["num_requests"] == summary["measured"]["requests"], "Locust counts real requests only"
    figures = {(row["figure"], row["size"]) for row in csv.DictReader((tmp_path / "out" / FIGURES_CSV).open())}
    assert {("RTF", "all"), ("TTFA", "all"), ("E2E stream", "all")} <= figures
    assert {(row["figure"], row["size"]) for row in summary["figures"]} == figures


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


def test_a_master_and_its_worker_judge_the_workers_requests(calibrated, tmp_path: Path) -> None:
    """The in-cluster Jobs' two commands on one machine: the master waits for its worker, the worker's records
    reach the master, and the master's log ends with summary.json on one line (`--log-summary`)."""
    stack = stack_with_slo(tmp_path, minQps=0.1, p95LatencySeconds=30, p95Rtf=1.0, maxErrorRatio=0.05)
    port = str(free_port())
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voxdeploy",
            "loadtest",
            "--worker",
            "--master-host",
            "127.0.0.1",
            "--master-port",
            port,
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        result = loadtest(
            calibrated.url,
            stack,
            tmp_path / "out",
            "--expect-workers",
            "1",
            "--master-bind-port",
            port,
            "--log-summary",
        )
        assert worker.wait(timeout=60) == 0, "a worker ends when its master does"
    finally:
        stop_process(worker)
    assert result.returncode == 0, result.stdout + result.stderr
    logged = json.loads(result.stdout.strip().splitlines()[-1])
    assert logged == json.loads((tmp_path / "out" / "summary.json").read_text())
    records = (tmp_path / "out" / "requests.jsonl").read_text().splitlines()
    assert logged["measured"]["requests"] == len(records) > 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "5s"], "--host is required (unless --worker)"),
        (["--worker"], "--worker needs --master-host"),
        (["--worker", "--master-host", "m", "--master-port", "0"], "--master-port must be a TCP port"),
        (["--host", "http://127.0.0.1:9", "--expect-workers", "-1"], "--expect-workers must be >= 0"),
        (["--host", "http://127.0.0.1:9", "--expect-workers", "2", "--processes", "2"], "exclude each other"),
    ],
)
def test_distributed_usage_errors_name_the_flag(tmp_path: Path, args: list[str], message: str) -> None:
    stack = stack_with_slo(tmp_path, minQps=1, p95LatencySeconds=1, p95Rtf=1, maxErrorRatio=0)
    result = voxdeploy("loadtest", "--stack", str(stack), "--report", str(tmp_path / "out"), *args, timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


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
    # a new user's first output: the demo's own lines, not a line per readiness poll it sent
    assert "httpx" not in result.stdout + result.stderr


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
