"""The container without a Docker engine: the Dockerfile's promises read off its text, and the
entrypoint script run as a real process."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port, is_ready, stop_process, wait_until
from tests.support.stacks import REPO

DOCKERFILE = REPO / "runtime" / "Dockerfile"
ENTRYPOINT = REPO / "runtime" / "container" / "entrypoint.sh"
BUILD_TOOLS = ("build-essential", "gcc", "g++", "cmake", "git", "python3-dev", "make")
RUNTIME_COMPILE = {"cloud": ("gcc", "libc6-dev", "python3-dev"), "edge": ()}
"""What a final stage compiles with at run time: Triton's C module on the cloud (vllm issues 2997, 15329)."""
LLAMA_CPP_OMNI_PIN = "ae5af0440e5e357e60b29287388efefb919b4167"
"""A tc-mb/llama.cpp-omni commit that has tools/server/server-voxcpm2.cpp."""


def stages() -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its (instruction, arguments) list, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            current = arguments.split(" AS ")[-1].strip() if " AS " in arguments else arguments
            result[current] = []
        if current is not None:
            result[current].append((instruction.upper(), arguments.strip()))
    return result


@pytest.mark.parametrize("target", ["cloud", "edge"])
def test_final_stages_are_locked_down(target: str) -> None:
    stage = dict(stages()[target])
    instructions = stages()[target]
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1].split(":")[0] == "10001", "runs as a numeric non-root user"
    assert stage["STOPSIGNAL"] == "SIGTERM"
    assert "HEALTHCHECK" in stage and "/health" in stage["HEALTHCHECK"]
    assert stage["ENTRYPOINT"] == '["/usr/local/bin/voxdeploy-entrypoint"]'
    installs = " ".join(args for name, args in instructions if name == "RUN")

    def installed(tool: str) -> bool:
        return re.search(rf"(install[^&]*\s){re.escape(tool)}(\s|$)", installs) is not None

    for tool in RUNTIME_COMPILE[target]:
        assert installed(tool), f"{tool} missing from the final {target} stage"
    for tool in set(BUILD_TOOLS) - set(RUNTIME_COMPILE[target]):
        assert not installed(tool), f"{tool} in final {target} stage"


def test_baked_edge_weights_land_where_the_pods_read_them() -> None:
    """weights.source image: the edge-weights target copies both GGUF files to the directory the engine argv names,
    and the edge image carries the `hf` CLI that weights.source download runs."""
    from voxdeploy.infra.builders.engine_command import EDGE_MODEL_DIR
    from voxdeploy.infra.config.edge import EdgePool

    stage = stages()["edge-weights"]
    assert stage[0] == ("FROM", "edge AS edge-weights")
    copies = [args for name, args in stage if name == "COPY"]
    assert len(copies) == 1 and copies[0].split()[-1] == f"{EDGE_MODEL_DIR}/"
    assert "VoxCPM2-BaseLM-" in copies[0] and EdgePool.acoustic_file() in copies[0]
    installs = " ".join(args for name, args in stages()["edge"] if name == "RUN")
    assert "huggingface_hub" in installs


def test_base_images_and_engine_versions_are_pinned() -> None:
    text = DOCKERFILE.read_text()
    arguments = dict(re.findall(r"^ARG (\w+)=(\S+)", text, flags=re.M))
    for name in ("CUDA_BASE", "DEBIAN_BASE"):
        assert ":" in arguments[name] and not arguments[name].endswith(":latest")
    assert re.fullmatch(r"\d+\.\d+\.\d+", arguments["VLLM_VERSION"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", arguments["VLLM_OMNI_VERSION"])
    assert arguments["LLAMA_CPP_OMNI_COMMIT"] == LLAMA_CPP_OMNI_PIN, "the default pin is a full, reviewed sha"
    assert "grep -Eq '^[0-9a-f]{40}$'" in text and "test -f tools/server/server-voxcpm2.cpp" in text
    assert "-DLLAMA_OPENSSL=OFF" in text and "-DGGML_NATIVE=OFF" in text
    assert "--target llama-tts-server" in text


def test_copied_paths_exist() -> None:
    """Every COPY source is in the repository, or under a build argument the stage declares (weights the builder
    supplies: they are never committed)."""
    for stage in stages().values():
        declared = {args.split("=")[0] for name, args in stage if name == "ARG"}
        for name, arguments in stage:
            if name == "COPY" and "--from" not in arguments:
                for source in (a for a in shlex.split(arguments)[:-1] if not a.startswith("--")):
                    supplied = re.match(r"\$\{(\w+)\}/", source)
                    assert (supplied and supplied.group(1) in declared) or (REPO / source).exists(), source


def test_the_wheel_stage_copies_every_folder_the_package_maps() -> None:
    """The image installs the wheel built in its `wheel` stage: a folder pyproject maps into the namespace
    (package-dir) but the stage does not COPY would be missing from the image's package."""
    mapped = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"].values())
    copied = {shlex.split(arguments)[0] for name, arguments in stages()["wheel"] if name == "COPY"}
    assert mapped <= copied, f"COPY missing for {sorted(mapped - copied)}"


def test_pod_command_matches_the_image_entrypoint() -> None:
    from voxdeploy.infra.builders.workloads import CONFIG_DIR, RUNTIME_CONFIG_FILE

    assert f"{CONFIG_DIR}/{RUNTIME_CONFIG_FILE}" in ENTRYPOINT.read_text()
    assert f'"{CONFIG_DIR}/{RUNTIME_CONFIG_FILE}"' in DOCKERFILE.read_text()


def _entrypoint(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    bin_dir = Path(sys.executable).parent
    full_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env}
    return subprocess.Popen(
        ["sh", str(ENTRYPOINT), *args],
        cwd=REPO,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


@pytest.mark.skipif(os.getuid() != 0, reason="checks the refusal to run as root")
def test_entrypoint_refuses_root() -> None:
    process = _entrypoint(["serve", "--engine", "sim"], {"VOXDEPLOY_ALLOW_ROOT": ""})
    try:
        _, err = process.communicate(timeout=20)
    finally:
        stop_process(process)
    assert process.returncode == 1 and b"refusing to run as root" in err


def test_entrypoint_execs_the_runtime_which_drains_on_sigterm() -> None:
    port = free_port()
    process = _entrypoint(["serve", "--engine", "sim", "--port", str(port)], {"VOXDEPLOY_ALLOW_ROOT": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: is_ready(url), 20, "the runtime behind the entrypoint")
        assert (
            httpx.post(url + "/v1/audio/speech", json={"input": "From the entrypoint."}, timeout=30).status_code == 200
        )
        process.terminate()  # the shell exec'd voxdeploy: the signal reaches the runtime itself
        assert process.wait(20) == 0
    finally:
        stop_process(process)


@pytest.mark.parametrize(
    ("stage", "extras"), [("cloud-build", "runtime,batch,loadtest"), ("edge", "runtime,batch,loadtest")]
)
def test_images_install_what_their_pods_run(stage: str, extras: str) -> None:
    """A tier's image runs its runtime pods (`serve`), the batch Job (`batch`) and the load-test Jobs (`loadtest`,
    Locust), which default to the target tier's image: each needs its extra of pyproject.toml installed."""
    runs = " ".join(arguments for instruction, arguments in stages()[stage] if instruction == "RUN")
    installed = re.findall(r'"/wheels/\$\(ls /wheels\)\[([\w,]+)\]"', runs)
    assert [set(i.split(",")) for i in installed] == [set(extras.split(","))]
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras.split(",")) <= set(declared)
