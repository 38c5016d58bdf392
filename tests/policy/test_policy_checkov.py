"""A second opinion on our policy: checkov (offline) over every rendered stack, every finding accepted with a reason.

checkov pins packaging<24 and networkx<2.7, which would downgrade what torch and the rest of the test
environment use, so tests/run.sh installs it into its own environment (.venv/checkov); a checkov that is
importable here is used instead. The test skips, saying so, only where neither exists.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
import yaml

from tests.support.stacks import REPO, STACKS, STACKS_DIR
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import load_stack
from voxdeploy.infra.render import render_files, write_directory

ACCEPTED_FILE = Path(__file__).with_name("checkov_accepted.yaml")
CHECKOV_VENV = REPO / ".venv" / "checkov" / "bin" / "python"


def checkov_command() -> list[str]:
    if importlib.util.find_spec("checkov") is not None:
        return [sys.executable, "-m", "checkov.main"]
    if CHECKOV_VENV.exists():
        return [str(CHECKOV_VENV), "-m", "checkov.main"]
    pytest.skip(
        "checkov is not installed: tests/run.sh installs it into .venv/checkov "
        "(python3 -m venv .venv/checkov && .venv/checkov/bin/pip install checkov==3.3.30)"
    )


def accepted_entries() -> list[dict[str, str]]:
    return yaml.safe_load(ACCEPTED_FILE.read_text(encoding="utf-8"))["accepted"]


def render_every_stack(out: Path) -> None:
    for stack in STACKS:
        write_directory(render_files(build_objects(load_stack(stack, STACKS_DIR).config), stack), out / stack)


def checkov_findings(out: Path) -> list[tuple[str, str]]:
    """(check id, '<stack>/<Kind>.<namespace>.<name>') of every failed check; offline: no download, no update check."""
    result = subprocess.run(
        [
            *checkov_command(),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--soft-fail",
            "--quiet",
            "--output",
            "json",
            "--directory",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, "checkov could not read some rendered files"
    assert report["summary"]["resource_count"] > 0, "checkov saw no Kubernetes objects"
    return [
        (finding["check_id"], f"{finding['file_path'].strip('/').split('/')[0]}/{finding['resource']}")
        for finding in report["results"]["failed_checks"]
    ]


def accepts(entry: dict[str, str], finding: tuple[str, str]) -> bool:
    return entry["check"] == finding[0] and fnmatchcase(finding[1], entry["object"])


def test_every_accepted_finding_has_a_check_an_object_and_a_reason() -> None:
    for entry in accepted_entries():
        assert set(entry) == {"check", "object", "reason"}, entry
        assert entry["check"].startswith("CKV_") and entry["object"] and len(entry["reason"]) > 40, entry


def test_checkov_finds_exactly_what_we_accepted(tmp_path: Path) -> None:
    render_every_stack(tmp_path)
    findings = checkov_findings(tmp_path)
    entries = accepted_entries()
    unexplained = [f for f in findings if not any(accepts(entry, f) for entry in entries)]
    assert unexplained == [], "fix these, or accept them in tests/policy/checkov_accepted.yaml with a reason"
    stale = [entry for entry in entries if not any(accepts(entry, f) for f in findings)]
    assert stale == [], "these accepted findings no longer occur: remove them from checkov_accepted.yaml"
