"""`voxdeploy serve --router` options -> RouterSettings: a settings file, flags over it, clear errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from voxdeploy.cli import build_parser
from voxdeploy.cli.serve import router_settings_from
from voxdeploy.contracts.router import RouterSettings
from voxdeploy.infra.config.errors import ConfigError


def parse(*argv: str) -> argparse.Namespace:
    """`voxdeploy serve --router ...` as the console script parses it."""
    return build_parser().parse_args(["serve", "--router", *argv])


def test_flags_alone_serve_on_loopback_with_the_routers_own_limits() -> None:
    settings = router_settings_from(
        parse(
            "--tier",
            "edge=http://a:1",
            "--tier",
            "edge=http://b:1",
            "--tier",
            "cloud=https://c",
            "--port",
            "9000",
            "--max-queue",
            "3",
        )
    )
    assert settings.endpoints == {"edge": ["http://a:1", "http://b:1"], "cloud": ["https://c"]}
    assert settings.host == "127.0.0.1" and settings.server.port == 9000
    assert settings.server.max_queued_requests == 3
    router_default = RouterSettings.model_fields["server"].default
    assert settings.server.max_concurrent_requests == router_default.max_concurrent_requests


def test_a_settings_file_with_flags_over_it_per_tier(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "endpoints": {"edge": ["http://edge:1"], "cloud": ["http://cloud:1"]},
                "policy": {"edgeMaxChars": 50},
                "health": {"intervalSeconds": 0.5},
                "server": {"port": 8100},
            }
        )
    )
    settings = router_settings_from(parse("--config", str(path), "--tier", "cloud=http://other:2", "--host", "::1"))
    assert settings.endpoints == {"edge": ["http://edge:1"], "cloud": ["http://other:2"]}
    assert settings.policy.edge_max_chars == 50 and settings.health.interval_seconds == 0.5
    assert settings.server.port == 8100 and settings.host == "::1"


def test_a_base_from_a_stack_is_the_starting_point() -> None:
    base = RouterSettings(endpoints={"fog": ["http://fog:1"]}, host="0.0.0.0")
    settings = router_settings_from(parse("--request-timeout", "9"), base)
    assert settings.endpoints == {"fog": ["http://fog:1"]}
    assert settings.server.request_timeout_seconds == 9
    assert settings.host == "127.0.0.1", "the stack's pod address (0.0.0.0) is not for a router run by hand"
    assert router_settings_from(parse("--host", "0.0.0.0"), base).host == "0.0.0.0"


def test_serve_router_stack_listens_on_loopback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`serve --router --stack hybrid` outside a pod: 127.0.0.1, as --help says; a pod's file keeps 0.0.0.0."""
    from tests.support.stacks import STACKS_DIR
    from voxdeploy.infra.builders.hybrid import router_settings
    from voxdeploy.infra.config import load_stack

    args = parse("--stack", "hybrid", "--stacks-dir", str(STACKS_DIR))
    stack_settings = router_settings(load_stack("hybrid", STACKS_DIR).config)
    assert stack_settings.host == "0.0.0.0"
    assert router_settings_from(args, stack_settings).host == "127.0.0.1"
    pods_file = tmp_path / "router.yaml"
    pods_file.write_text(yaml.safe_dump(stack_settings.model_dump(mode="json")))
    assert router_settings_from(parse("--config", str(pods_file))).host == "0.0.0.0"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    assert "listen address [127.0.0.1;" in capsys.readouterr().out


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        router_settings_from(
            parse("--tier", "mist=http://a", "--tier", "edge=a:1", "--engine", "sim", "--sim-rtf", "1")
        )
    assert [(issue.path, issue.value) for issue in caught.value.issues] == [
        ("--engine", "sim"),
        ("--sim-rtf", 1.0),
        ("--tier", "mist=http://a"),
        ("endpoints.edge[0]", "a:1"),
    ]
    with pytest.raises(ConfigError, match="no endpoint for any tier"):
        router_settings_from(parse())


def test_a_bad_settings_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "router.yaml"
    path.write_text(yaml.safe_dump({"endpoints": {"edge": ["http://a"]}, "policy": {"edgeMaxChar": 5}}))
    with pytest.raises(ConfigError) as caught:
        router_settings_from(parse("--config", str(path)))
    assert [issue.path for issue in caught.value.issues] == ["policy.edgeMaxChar"]
    path.write_text(yaml.safe_dump({"endpoints": {"fog": ["http://a", "fog.local:80"]}}))
    with pytest.raises(ConfigError) as caught:
        router_settings_from(parse("--config", str(path)))
    assert [issue.path for issue in caught.value.issues] == ["endpoints.fog[1]"]
    with pytest.raises(ConfigError, match="cannot read"):
        router_settings_from(parse("--config", str(tmp_path / "missing.yaml")))
