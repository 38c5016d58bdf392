"""schemathesis against a live `voxdeploy serve --engine sim` on 127.0.0.1: thousands of requests generated
from the runtime's own /openapi.json (both body encodings, valid and invalid), every response checked against
the document; none may be a 5xx or hang. The hypothesis fuzzing in test_server_inprocess.py stays beside it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import yaml

from tests.support.processes import run_to_end

SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli", "run"]
MAX_EXAMPLES = 800
"""Per operation and phase (the GET ones without parameters have no inputs to vary): about 7,000 cases in all,
under a minute on a 2-core machine."""


def test_generated_requests_get_no_5xx_and_never_hang(serve, tmp_path: Path) -> None:
    # A fast simulator, and short inputs only (200 chars, ~14 s of audio): longer ones are refused at once, so the
    # run's time goes to the HTTP surface rather than to encoding minutes of audio.
    settings = {
        "host": "127.0.0.1",
        "engine": {"kind": "sim", "rtf": 0.001, "firstAudioSeconds": 0},
        "speech": {"maxInputChars": 200},
    }
    path = tmp_path / "runtime.yaml"
    path.write_text(yaml.safe_dump(settings))
    served = serve("--config", str(path))
    command = [
        *SCHEMATHESIS,
        served.url + "/openapi.json",
        # every check but positive_data_acceptance: the schema cannot say what makes ref_audio real audio, input not
        # blank or short enough, or sample_rate the engine's, so some schema-valid requests are rightly a 400
        "--checks=all",
        "--exclude-checks=positive_data_acceptance",
        f"--max-examples={MAX_EXAMPLES}",
        "--seed=1",
        "--workers=1",
        "--request-timeout=20",
        "--max-response-time=10",
        "--generation-database=none",
        "--no-color",
    ]
    result = run_to_end(command, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    counted = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert counted, result.stdout[-2000:]
    generated, passed = int(counted[1]), int(counted[2])
    assert generated == passed and generated >= MAX_EXAMPLES, counted[0]
    codes = re.findall(r'voxdeploy_requests_total\{code="(\d+)"', httpx.get(served.url + "/metrics").text)
    assert "200" in codes and not [code for code in codes if code.startswith("5")], codes
    assert "Traceback" not in served.output()
