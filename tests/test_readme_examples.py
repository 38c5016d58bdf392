"""The README's client examples, run as written against a real `voxdeploy serve --engine sim` on 127.0.0.1: only
the address is changed, to the test server's. A README example that stops working fails here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_decode import decode
from tests.support.processes import REPO
from voxdeploy.runtime.encoding import encode

README_URL = "http://127.0.0.1:8000"


def readme_python_blocks() -> list[str]:
    """The README's Python blocks that talk to a local runtime, in order."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    return [block for block in blocks if README_URL in block]


def test_the_readme_has_the_streaming_and_voice_library_examples() -> None:
    blocks = readme_python_blocks()
    assert len(blocks) == 2, "one for speech, one for the voice library"
    assert "with_streaming_response" in blocks[0] and "/v1/audio/voices" in blocks[1]


def test_the_readme_examples_run_as_written(serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the embedded voice store, not the user's
    served = serve("--engine", "sim", "--sim-rtf", "0.05")
    monkeypatch.chdir(tmp_path)
    t = np.arange(48_000 * 2) / 48_000
    Path("narrator.wav").write_bytes(encode((0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 48_000, "wav"))

    namespace: dict[str, object] = {}
    for block in readme_python_blocks():
        exec(compile(block.replace(README_URL, served.url), "README.md", "exec"), namespace)

    assert namespace["rate"] == 24_000 and len(namespace["pcm"]) > 24_000 * 2  # type: ignore[arg-type]
    samples, rate = decode("mp3", Path("hello.mp3").read_bytes(), 24_000, whole=True)
    assert rate == 24_000 and len(samples) > 2400
    made = namespace["made"]
    assert isinstance(made, dict) and made["id"].startswith("voice_") and made["name"] == "narrator"
    client = namespace["client"]
    assert "narrator" not in client.get("/audio/voices", cast_to=dict)["voices"], "the example deletes its voice"  # type: ignore[attr-defined]
