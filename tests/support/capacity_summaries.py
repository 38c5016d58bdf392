"""summary.json documents as `voxdeploy loadtest` writes them, built from request records for the capacity tests."""

from __future__ import annotations

from voxdeploy.contracts.runtime import SIMULATOR_ENGINE
from voxdeploy.contracts.slo import SloTargets
from voxdeploy.loadtests.figures import figure_rows
from voxdeploy.loadtests.gate import judge
from voxdeploy.loadtests.results import RequestRecord, measure
from voxdeploy.loadtests.summary import RunParameters, Summary


def load_test_summary(
    users: int, latency: float, audio_seconds: float, seconds: int, engine: str = "vllm-omni"
) -> Summary:
    """A summary.json as `voxdeploy loadtest` writes it: closed-loop users, each back-to-back requests."""
    records = [
        RequestRecord(
            start=user * 0.001 + n * latency,
            latency=latency,
            ok=True,
            status=200,
            size="short",
            language="en",
            streamed=False,
            audio_seconds=audio_seconds,
        )
        for user in range(users)
        for n in range(int(seconds / latency))
    ]
    slo = SloTargets()
    measured = measure(records, slo.p95_latency_seconds, slo.p95_rtf)
    verdicts = judge(slo, measured)
    parameters = RunParameters(
        host="http://127.0.0.1:8000",
        scenario="steady",
        users=users,
        spawn_rate=users,
        duration_seconds=seconds,
        processes=1,
        size_mix={"short": 1.0},
        language_mix={"en": 1.0},
        stream_ratio=0.0,
        stack="prod",
    )
    return Summary(
        engine=engine,
        simulated=engine == SIMULATOR_ENGINE,
        started_at="2026-12-01T10:00:00+00:00",
        finished_at=f"2026-12-01T10:{seconds // 60:02d}:{seconds % 60:02d}+00:00",
        parameters=parameters,
        measured=measured,
        figures=figure_rows([r.as_dict() for r in records]),
        verdicts=verdicts,
        passed=all(v.passed for v in verdicts),
        files={},
    )
