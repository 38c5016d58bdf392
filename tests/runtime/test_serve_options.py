"""`voxdeploy serve` options: the pods' settings file, a stack, or flags, and clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.stacks import STACKS_DIR
from voxdeploy.cli import EXIT_USAGE, build_parser, main
from voxdeploy.cli.serve import runtime_config
from voxdeploy.contracts.runtime import ProcessEngine, SimEngine
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import load_stack
from voxdeploy.infra.config.errors import ConfigError


def options(*argv: str):
    return runtime_config(build_parser().parse_args(["serve", *argv]))


def rendered_runtime_file(tmp_path: Path, stack: str = "prod") -> Path:
    config_map = next(o for o in build_objects(load_stack(stack, STACKS_DIR).config) if o["kind"] == "ConfigMap")
    path = tmp_path / "runtime.yaml"
    path.write_text(config_map["data"]["runtime.yaml"])
    return path


def test_the_pods_settings_file_is_what_serve_reads(tmp_path: Path) -> None:
    config = options("--config", str(rendered_runtime_file(tmp_path)))
    assert isinstance(config.engine, ProcessEngine) and config.engine.kind == "vllm-omni"
    cloud = load_stack("prod", STACKS_DIR).config.cloud
    assert config.engine.command[:4] == ["vllm", "serve", cloud.model_path, "--omni"]
    assert config.engine.startup_timeout_seconds == 1200
    assert (config.host, config.server.port, config.server.max_concurrent_requests) == ("0.0.0.0", 8000, 100)


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    config = options(
        "--config", str(rendered_runtime_file(tmp_path)), "--port", "9000", "--max-queue", "5", "--host", "127.0.0.1"
    )
    assert (config.server.port, config.server.max_queued_requests, config.host) == (9000, 5, "127.0.0.1")


def test_stack_gives_the_same_engine_as_the_pods(tmp_path: Path) -> None:
    """The same settings, except what only a pod has: a stack served by hand stays on loopback (--help says so),
    with /metrics beside the API and no keys (the pods' Secret volume is not there), unless flags give them."""
    from_stack = options("--stack", "prod", "--stacks-dir", str(STACKS_DIR))
    from_file = options("--config", str(rendered_runtime_file(tmp_path)))
    assert (from_stack.host, from_file.host) == ("127.0.0.1", "0.0.0.0")
    assert (from_stack.server.metrics_port, from_file.server.metrics_port) == (None, 9090)
    assert from_stack.auth is None and from_file.auth is not None
    pod_only = {"host": from_file.host, "server": from_file.server, "auth": from_file.auth}
    assert from_stack.model_copy(update=pod_only) == from_file


def test_keys_and_the_metrics_port_by_hand(tmp_path: Path) -> None:
    config = options("--api-keys", str(tmp_path), "--max-concurrent-per-key", "3", "--metrics-port", "9100")
    assert config.auth is not None and (config.auth.keys, config.auth.max_concurrent_per_key) == (str(tmp_path), 3)
    assert config.server.metrics_port == 9100
    pod = options("--config", str(rendered_runtime_file(tmp_path)), "--api-keys", "/keys")
    assert pod.auth is not None and pod.auth.keys == "/keys" and pod.auth.forwarders is None


def test_flags_alone_default_to_the_simulator_on_loopback() -> None:
    config = options("--sim-rtf", "0.3", "--sim-batch-capacity", "4")
    assert isinstance(config.engine, SimEngine)
    assert (config.engine.rtf, config.engine.batch_capacity, config.host) == (0.3, 4, "127.0.0.1")


def test_engine_command_for_process_engines() -> None:
    config = options("--engine", "llamacpp", "--engine-port", "9100", "--engine-command", "llama-tts-server", "-x")
    assert config.engine.command == ["llama-tts-server", "-x"] and config.engine.port == 9100


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--sim-rtf", "-1"], "engine.sim.rtf"),
        (["--port", "80"], "server.port"),
        (["--engine", "voxcpm"], "engine.voxcpm.checkpoint"),
        (["--engine", "vllm-omni"], "engine.vllm-omni.command"),
    ],
)
def test_bad_flags_name_the_setting(capsys, argv: list[str], words: str) -> None:
    assert main(["serve", *argv]) == EXIT_USAGE
    assert words in capsys.readouterr().err


def test_bad_settings_file_names_the_key(tmp_path: Path) -> None:
    path = rendered_runtime_file(tmp_path)
    document = yaml.safe_load(path.read_text())
    document["server"]["maxConcurrentRequest"] = 3
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError) as caught:
        options("--config", str(path))
    assert "did you mean 'maxConcurrentRequests'" in str(caught.value)
