"""The built wheel, installed alone into a fresh virtualenv, works with no source tree beside it.

The editable install the rest of the suite uses can hide a missing data file or a module that only
resolves from the repository; these tests build the wheel, install it into a throwaway venv and run
every user-facing command from a directory outside the repository. The `infra` extra is installed
first and alone, and the Pulumi program is run from it under Pulumi's mocks: that is the venv the
README's "pulumi up" command makes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.support.processes import free_port, run_to_end, stop_process
from tests.support.stacks import REPO, STACKS_DIR

pytestmark = pytest.mark.xdist_group("wheel")

UNBUILT = (
    ".git",
    ".venv",
    "build",
    "rendered",
    "*.egg-info",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
)
"""What a wheel is never built from: version control, environments, caches and earlier build output."""
PIP = ["-m", "pip", "install", "-q", "--disable-pip-version-check"]


@dataclass(frozen=True)
class Installed:
    """A venv holding only the wheel, and a working directory outside the repository."""

    wheel: Path
    venv: Path
    work: Path

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def voxdeploy(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.venv / "bin" / "voxdeploy"), *args]
        print("$", " ".join(command))
        result = run_to_end(command, timeout, cwd=self.work)
        print(result.stdout[-2000:], result.stderr[-2000:], sep="\n")
        return result


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH or virtualenv of ours leaks into the throwaway venv."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    # Built from a copy: setuptools builds in the source tree's build/, and each xdist worker that runs a test of
    # this module builds its own wheel, so two builds in one tree collide ("File exists: ...dist-info").
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*UNBUILT))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)],
        check=True,
        timeout=600,
        env=_clean_env(),
    )
    (wheel,) = dist.glob("voxdeploy-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "python"), *PIP, f"{wheel}[infra]"], check=True, timeout=900, env=_clean_env())
    work = root / "work"
    work.mkdir()
    return Installed(wheel=wheel, venv=venv, work=work)


@pytest.fixture(scope="module")
def with_demo(installed: Installed) -> Installed:
    """The same venv with the `demo` extra added: the runtime, the simulator and Locust."""
    subprocess.run([installed.python, *PIP, f"{installed.wheel}[demo]"], check=True, timeout=900, env=_clean_env())
    return installed


def test_wheel_installs_one_top_level_package(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        names = archive.namelist()
    assert tops == {"voxdeploy", f"{installed.wheel.name.split('-')[0]}-{installed.wheel.name.split('-')[1]}.dist-info"}
    for data in ("voxdeploy/py.typed", "voxdeploy/infra/config/devices.yaml", "voxdeploy/stacks/Pulumi.prod.yaml"):
        assert data in names
    assert any(n.startswith("voxdeploy/templates/") and n.endswith(".j2") for n in names)
    assert any(n.startswith("voxdeploy/loadtests/corpus/") and n.endswith(".yaml") for n in names)
    assert not any(n.startswith(("voxdeploy/tests/", "tests/")) for n in names), "test support is not shipped"


def run_pulumi_program(python: str, cwd: Path) -> str:
    """What `pulumi up --stack prod` does, under Pulumi's mocks: run infra/ (Pulumi.yaml's main) with the
    venv's interpreter and the stack file's config. Returns where `voxdeploy.infra` was imported from."""
    keys = yaml.safe_load((STACKS_DIR / "Pulumi.prod.yaml").read_text())["config"]
    config = {k: v if isinstance(v, str) else json.dumps(v) for k, v in keys.items()}
    script = f"""
import asyncio, json, runpy, pulumi
class Mocks(pulumi.runtime.Mocks):
    types = []
    def new_resource(self, args):
        self.types.append(args.typ)
        return args.name + "-id", args.inputs
    def call(self, args):
        return {{}}
asyncio.set_event_loop(asyncio.new_event_loop())
mocks = Mocks()
pulumi.runtime.set_mocks(mocks, project="voxdeploy", stack="prod", preview=False)
pulumi.runtime.set_all_config(json.loads({json.dumps(json.dumps(config))}))
@pulumi.runtime.test
def program():
    runpy.run_path({str(REPO / "infra")!r}, run_name="__main__")
program()
import voxdeploy.infra
print(voxdeploy.infra.__file__)
print(len([t for t in mocks.types if t.startswith("kubernetes:")]))
"""
    result = subprocess.run([python, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    module_file, registered = result.stdout.strip().splitlines()[-2:]
    assert int(registered) >= 10
    return module_file


def test_pulumi_program_runs_from_the_infra_extra_alone(installed: Installed) -> None:
    module_file = run_pulumi_program(installed.python, installed.work)
    assert module_file.startswith(str(installed.venv)), "the program must import the installed wheel"


def test_pulumi_requirements_file_makes_the_venv_pulumi_needs(tmp_path: Path) -> None:
    """`pulumi install` (toolchain pip) runs `pip install -r requirements.txt` in the project directory."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    requirements = ["-r", str(REPO / "requirements.txt")]
    subprocess.run([python, *PIP, *requirements], cwd=REPO, check=True, timeout=900, env=_clean_env())
    assert run_pulumi_program(python, REPO) == str(REPO / "infra" / "__init__.py")


def test_version_comes_from_the_installed_metadata(installed: Installed) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    result = installed.voxdeploy("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"voxdeploy {version}"


def test_validate_plan_and_render_a_stack_file_from_anywhere(installed: Installed) -> None:
    stack = installed.work / "Pulumi.mine.yaml"
    shutil.copy(STACKS_DIR / "Pulumi.prod.yaml", stack)
    assert installed.voxdeploy("validate", "--stack", "prod").returncode == 0
    validated = installed.voxdeploy("validate", "--stack", str(stack))
    assert validated.returncode == 0, validated.stderr
    assert "valid" in validated.stdout
    planned = installed.voxdeploy("plan", "--stack", str(stack))
    assert planned.returncode == 0, planned.stderr
    assert "Deployment" in planned.stdout
    out = installed.work / "rendered"
    rendered = installed.voxdeploy("render", "--stack", str(stack), "--out", str(out))
    assert rendered.returncode == 0, rendered.stderr
    assert (out / "kustomization.yaml").is_file()
    assert len(list(out.glob("*.yaml"))) >= 10


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited before it was ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} not ready after {timeout} s")


@pytest.fixture
def serving(with_demo: Installed) -> Iterator[str]:
    port = free_port()
    command = [str(with_demo.venv / "bin" / "voxdeploy"), "serve", "--engine", "sim", "--port", str(port)]
    process = subprocess.Popen(command, cwd=with_demo.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/ready", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


def test_serve_and_loadtest(with_demo: Installed, serving: str) -> None:
    with urllib.request.urlopen(f"{serving}/v1/models", timeout=5) as response:
        assert json.load(response)["data"]
    report = with_demo.work / "loadtest"
    result = with_demo.voxdeploy(
        "loadtest", "--stack", "dev", "--host", serving, "--users", "2", "--duration", "4s", "--report", str(report)
    )
    assert result.returncode in (0, 1), result.stderr  # 1 is a failed gate: the run itself worked
    assert json.loads((report / "summary.json").read_text())["measured"]["requests"] > 0


def test_demo(with_demo: Installed) -> None:
    report = with_demo.work / "demo"
    result = with_demo.voxdeploy("demo", "--duration", "4s", "--report", str(report), timeout=300)
    assert result.returncode == 0, result.stderr
    assert (report / "rendered" / "kustomization.yaml").is_file()
    assert (report / "loadtest" / "report.html").is_file()
