"""Run Locust headless in its own process, collect the records, judge them, write the reports.

Locust monkey-patches the whole interpreter with gevent on import, so it never runs in this process:
it is started with an explicit command line and its per-request records come back as a file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from voxdeploy.contracts.loadtest import LOCUST_MASTER_PORT
from voxdeploy.contracts.runtime import SIMULATOR_ENGINE
from voxdeploy.contracts.slo import SloTargets
from voxdeploy.loadtests import API_KEY_ENV, report, summary
from voxdeploy.loadtests.corpus import DEFAULT_LANGUAGE_MIX, DEFAULT_SIZE_MIX, LANGUAGES, SIZES, parse_mix
from voxdeploy.loadtests.figures import figure_rows, figures_csv
from voxdeploy.loadtests.gate import judge
from voxdeploy.loadtests.results import Measured, RequestRecord, measure

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
BURST_SHAPE = Path(__file__).with_name("burst_shape.py")
FIGURES_CSV = "voxdeploy_figures.csv"
SCENARIOS = ("steady", "burst")
STOP_TIMEOUT_SECONDS = 30
WORKERS_MAX_WAIT_SECONDS = 300
"""How long a master waits for its --expect-workers before giving up: a Job whose workers never come must end."""


class LoadTestError(Exception):
    """The run could not happen (host unreachable, Locust failed to start): exit 2, not a verdict."""


@dataclass(frozen=True)
class LoadTestOptions:
    host: str
    users: int = 10
    spawn_rate: float = 10.0
    duration_seconds: float = 30.0
    processes: int = 1
    scenario: str = "steady"
    sizes: str = DEFAULT_SIZE_MIX
    languages: str = DEFAULT_LANGUAGE_MIX
    stream_ratio: float = 0.5
    response_format: str = "wav"
    seed: int = 0
    quiet: bool = False
    extra_locust_args: Sequence[str] = field(default_factory=tuple)
    expect_workers: int = 0
    """0: Locust runs here (with --processes); N: a master that waits for N workers (`loadtest --worker`) to connect."""
    master_bind_port: int = LOCUST_MASTER_PORT
    api_key: str | None = field(default=None, repr=False)
    """Sent as `Authorization: Bearer` by every simulated user; reaches Locust in its environment (API_KEY_ENV)."""

    def check(self) -> None:
        """Usage errors before anything starts, each naming the option."""
        if self.users < 1:
            raise LoadTestError(f"--users must be >= 1, got {self.users}")
        if self.spawn_rate <= 0:
            raise LoadTestError(f"--spawn-rate must be > 0, got {self.spawn_rate}")
        if self.duration_seconds <= 0:
            raise LoadTestError(f"--duration must be > 0, got {self.duration_seconds}")
        if self.processes < 1:
            raise LoadTestError(f"--processes must be >= 1, got {self.processes}")
        if self.expect_workers < 0:
            raise LoadTestError(f"--expect-workers must be >= 0, got {self.expect_workers}")
        if self.expect_workers and self.processes > 1:
            raise LoadTestError(
                "--expect-workers and --processes > 1 exclude each other: a master's workers are the pods"
            )
        if not 0 < self.master_bind_port < 65536:
            raise LoadTestError(f"--master-bind-port must be a TCP port (1-65535), got {self.master_bind_port}")
        if self.scenario not in SCENARIOS:
            raise LoadTestError(f"--scenario must be one of {', '.join(SCENARIOS)}, got {self.scenario!r}")
        if not 0 <= self.stream_ratio <= 1:
            raise LoadTestError(f"--stream-ratio must be in [0, 1], got {self.stream_ratio}")
        if not self.host.startswith(("http://", "https://")):
            raise LoadTestError(f"--host must be an http(s) URL such as http://127.0.0.1:8000, got {self.host!r}")
        for spec, keys, flag in ((self.sizes, SIZES, "--sizes"), (self.languages, LANGUAGES, "--languages")):
            try:
                parse_mix(spec, keys)
            except ValueError as err:
                raise LoadTestError(f"{flag}: {err}") from None


def parse_duration(text: str) -> float:
    """Locust's forms: 90, 90s, 5m, 1h30m."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise LoadTestError(f"--duration {text!r} is not a duration; use e.g. 60s, 5m or 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def preflight(host: str) -> str:
    """A dead host is a usage problem (exit 2), found in seconds instead of after a whole run of failures.

    Returns the engine the host says it serves (the runtime's and router's /ready name it; a simulator says
    "sim"), or "unknown" for a server that does not say (vLLM-Omni itself), so every report names what it measured.
    """
    base = host.rstrip("/")
    try:
        httpx.get(base + "/health", timeout=5.0)
        ready = httpx.get(base + "/ready", timeout=5.0)
    except httpx.HTTPError as err:
        raise LoadTestError(f"cannot reach {host}: {type(err).__name__}: {err}") from None
    try:
        engine = ready.json().get("engine")
    except (ValueError, AttributeError):
        engine = None
    return str(engine) if engine else "unknown"


def worker_command(master_host: str, master_port: int = LOCUST_MASTER_PORT) -> list[str]:
    """A Locust worker of a `--expect-workers` master: the master sends it the run's options and collects its
    records, so the worker needs only where the master is."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
    ]


def locust_command(options: LoadTestOptions, out: Path, records: Path) -> list[str]:
    files = str(LOCUSTFILE) + (f",{BURST_SHAPE}" if options.scenario == "burst" else "")
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        files,
        "--headless",
        "--only-summary",
        "--host",
        options.host,
        "-u",
        str(options.users),
        "-r",
        str(options.spawn_rate),
        "-t",
        f"{options.duration_seconds:g}s",
        "--stop-timeout",
        str(STOP_TIMEOUT_SECONDS),
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "locust.html"),
        "--voxdeploy-records",
        str(records),
        "--voxdeploy-sizes",
        options.sizes,
        "--voxdeploy-languages",
        options.languages,
        "--voxdeploy-stream-ratio",
        str(options.stream_ratio),
        "--voxdeploy-format",
        options.response_format,
        "--voxdeploy-seed",
        str(options.seed),
    ]
    if options.processes > 1:
        command += ["--processes", str(options.processes)]
    if options.expect_workers:
        command += [
            "--master",
            "--expect-workers",
            str(options.expect_workers),
            "--expect-workers-max-wait",
            str(WORKERS_MAX_WAIT_SECONDS),
            "--master-bind-port",
            str(options.master_bind_port),
        ]
    if options.quiet:
        command.append("--voxdeploy-quiet")
    return [*command, *options.extra_locust_args]


def run_locust(options: LoadTestOptions, out: Path) -> list[RequestRecord]:
    """Locust's progress lines go to our stderr as they come; its own summary goes to locust.log."""
    out.mkdir(parents=True, exist_ok=True)
    records_path = out / "requests.jsonl"
    records_path.unlink(missing_ok=True)
    with (out / "locust.log").open("w", encoding="utf-8") as log:
        env = {**os.environ, API_KEY_ENV: options.api_key} if options.api_key else None
        process = subprocess.Popen(
            locust_command(options, out, records_path), stdout=log, stderr=subprocess.PIPE, text=True, env=env
        )
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("[voxdeploy]"):
                print(line.rstrip(), file=sys.stderr, flush=True)
            else:
                log.write(line)
        process.wait()
    if not records_path.exists():
        raise LoadTestError(f"Locust exited with code {process.returncode} and wrote no results; see {out}/locust.log")
    fields = RequestRecord.__dataclass_fields__
    return [
        RequestRecord(**{k: v for k, v in json.loads(line).items() if k in fields})
        for line in records_path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def run(options: LoadTestOptions, slo: SloTargets, out: Path, stack: str | None = None) -> summary.Summary:
    """One gated run: Locust, figures, verdicts, summary.json and report.html."""
    options.check()
    engine = preflight(options.host)
    started = time.time()
    records = run_locust(options, out)
    finished = time.time()
    figures = figure_rows([r.as_dict() for r in records])
    (out / FIGURES_CSV).write_text(figures_csv(figures), encoding="utf-8")
    measured = measure(records, slo.p95_latency_seconds, slo.p95_rtf)
    verdicts = judge(slo, measured)
    files = {
        "summary": "summary.json",
        "report": "report.html",
        "locustReport": "locust.html",
        "locustStats": "locust_stats.csv",
        "locustHistory": "locust_stats_history.csv",
        "figures": FIGURES_CSV,
        "requests": "requests.jsonl",
        "locustLog": "locust.log",
    }
    result = summary.Summary(
        engine=engine,
        simulated=engine == SIMULATOR_ENGINE,
        started_at=_iso(started),
        finished_at=_iso(finished),
        parameters=summary.RunParameters(
            host=options.host,
            scenario=options.scenario,
            users=options.users,
            spawn_rate=options.spawn_rate,
            duration_seconds=options.duration_seconds,
            processes=options.processes,
            size_mix=parse_mix(options.sizes, SIZES),
            language_mix=parse_mix(options.languages, LANGUAGES),
            stream_ratio=options.stream_ratio,
            stack=stack,
        ),
        measured=measured,
        figures=figures,
        verdicts=verdicts,
        passed=all(v.passed for v in verdicts),
        files=files,
    )
    summary.write(result, out / "summary.json")
    report.write(out / "report.html", result, records, started, slo)
    return result


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


def benchmark(
    options: LoadTestOptions, levels: Sequence[int], slo: SloTargets, out: Path
) -> list[tuple[int, Measured]]:
    """The reference article's table: the same run at several concurrencies, one after another."""
    options.check()
    engine = preflight(options.host)
    rows = []
    for users in levels:
        level = LoadTestOptions(**{**options.__dict__, "users": users, "spawn_rate": max(options.spawn_rate, users)})
        records = run_locust(level, out / f"users-{users}")
        rows.append((users, measure(records, slo.p95_latency_seconds, slo.p95_rtf)))
    (out / "benchmark.json").write_text(
        json.dumps(
            [
                {"users": users, "engine": engine, "simulated": engine == SIMULATOR_ENGINE, **m.model_dump(mode="json")}
                for users, m in rows
            ],
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return rows
