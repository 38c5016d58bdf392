"""The console script's ergonomics: output formats, log level, VOXDEPLOY_* defaults, completion,
'did you mean', usage errors, output paths, Ctrl-C, the stack-file schema and the engine registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.support.stacks import REPO, STACKS_DIR
from voxdeploy.cli import COMMANDS, build_parser, main
from voxdeploy.cli.common import EXIT_INTERRUPTED, EXIT_USAGE
from voxdeploy.cli.options import ENGINES, _kebab, engine_flags
from voxdeploy.cli.schema import stack_file_schema
from voxdeploy.contracts.runtime import ProcessEngine, SimEngine, VoxcpmEngine, VoxcpmLora

STACK_FILES = sorted(STACKS_DIR.glob("Pulumi.*.yaml"))


def voxdeploy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VOXDEPLOY_")}
    return subprocess.run(
        [sys.executable, "-m", "voxdeploy", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, **(env or {})},
    )


@pytest.fixture(autouse=True)
def _no_voxdeploy_env(monkeypatch) -> None:
    for name in list(os.environ):
        if name.startswith("VOXDEPLOY_"):
            monkeypatch.delenv(name)


def stack_args(name: str = "prod") -> list[str]:
    return ["--stack", name, "--stacks-dir", str(STACKS_DIR)]


# -o/--output


@pytest.mark.parametrize("command", ["validate", "plan"])
@pytest.mark.parametrize("output", ["json", "yaml"])
def test_machine_output_of_validate_and_plan(capsys, command: str, output: str) -> None:
    assert main([command, *stack_args("prod"), "-o", output]) == 0
    text = capsys.readouterr().out
    document = json.loads(text) if output == "json" else yaml.safe_load(text)
    assert document["stack"] == "prod"
    if command == "validate":
        assert document["valid"] is True and document["objects"] > 0 and document["policyErrors"] == 0
    else:
        namespaces = {row["kind"]: row["namespace"] for row in document["objects"]}
        assert namespaces["Namespace"] is None, "a cluster-scoped object's namespace is null, not '-'"
        assert namespaces["Deployment"] == "voxcpm"
        assert "-" not in namespaces.values()


def test_text_output_is_the_default_and_bad_formats_exit_2(capsys) -> None:
    assert main(["validate", *stack_args("prod")]) == 0
    assert "valid" in capsys.readouterr().out
    assert voxdeploy("validate", "-o", "xml").returncode == 2
    assert voxdeploy("plan", "-o", "table").returncode == 2


# --log-level and VOXDEPLOY_*


def test_log_level_global_or_after_the_subcommand() -> None:
    assert build_parser().parse_args(["--log-level", "debug", "schema"]).log_level == "DEBUG"
    assert build_parser().parse_args(["schema", "--log-level", "ERROR"]).log_level == "ERROR"
    bad = voxdeploy("--log-level", "LOUD", "schema")
    assert bad.returncode == 2 and "LOUD" in bad.stderr


def test_log_level_reaches_the_runtime_settings() -> None:
    from voxdeploy.cli.serve import runtime_config

    assert runtime_config(build_parser().parse_args(["--log-level", "DEBUG", "serve"])).server.log_level == "DEBUG"
    assert runtime_config(build_parser().parse_args(["serve"])).server.log_level == "INFO"


def test_environment_defaults_and_explicit_flags_win(monkeypatch) -> None:
    monkeypatch.setenv("VOXDEPLOY_STACK", "staging")
    monkeypatch.setenv("VOXDEPLOY_STACKS_DIR", str(STACKS_DIR))
    monkeypatch.setenv("VOXDEPLOY_LOG_LEVEL", "warning")
    monkeypatch.setenv("VOXDEPLOY_OUTPUT", "json")
    args = build_parser().parse_args(["plan"])
    assert (args.stack, args.stacks_dir, args.log_level, args.output) == ("staging", STACKS_DIR, "WARNING", "json")
    args = build_parser().parse_args(["--log-level", "ERROR", "plan", "--stack", "prod", "-o", "text"])
    assert (args.stack, args.log_level, args.output) == ("prod", "ERROR", "text")


def test_a_bad_environment_value_is_a_usage_error() -> None:
    result = voxdeploy("validate", env={"VOXDEPLOY_OUTPUT": "xml"})
    assert result.returncode == 2 and "VOXDEPLOY_OUTPUT" in result.stderr
    result = voxdeploy("validate", env={"VOXDEPLOY_STACK": "nope"})
    assert result.returncode == 2 and "Pulumi.nope.yaml" in result.stderr


# completion


@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_completion_scripts(capsys, shell: str) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "voxdeploy" in script and "validate" in script and "completion" in script
    if shell != "tcsh":
        assert "--stack" in script


def test_completion_of_an_unknown_shell_exits_2() -> None:
    result = voxdeploy("completion", "fish")
    assert result.returncode == 2 and "fish" in result.stderr


# did you mean, unknown flags


def test_unknown_subcommand_suggests_the_closest() -> None:
    result = voxdeploy("valdate")
    assert result.returncode == 2 and "did you mean 'validate'?" in result.stderr
    result = voxdeploy("frobnicate")
    assert result.returncode == 2 and "did you mean" not in result.stderr


def test_unknown_stack_suggests_the_closest(capsys) -> None:
    assert main(["validate", *stack_args("prdo")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "did you mean 'prod'?" in err and "Traceback" not in err
    assert main(["validate", *stack_args("zzzzzz")]) == EXIT_USAGE
    assert "did you mean" not in capsys.readouterr().err


def test_an_unknown_flag_prints_that_subcommands_usage() -> None:
    result = voxdeploy("render", "--stack", "prod", "--outt", "x")
    assert result.returncode == 2
    assert "usage: voxdeploy render" in result.stderr and "unrecognized arguments: --outt" in result.stderr
    assert voxdeploy("plan", "--frob").stderr.startswith("usage: voxdeploy plan")


# output paths


def test_render_out_that_is_a_file_root_or_under_a_file(capsys, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    for out in (afile, Path("/"), afile / "sub"):
        assert main(["render", *stack_args("prod"), "--out", str(out)]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(out) in err and err.startswith("error: --out")
    assert afile.read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_render_out_unwritable(capsys, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["render", *stack_args("prod"), "--out", str(locked / "out")]) == EXIT_USAGE
    assert "not writable" in capsys.readouterr().err


def test_report_paths_are_checked_before_anything_runs(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("mine")
    result = voxdeploy("loadtest", "--host", "http://127.0.0.1:9", "--report", str(afile))
    assert result.returncode == 2 and str(afile) in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    result = voxdeploy("demo", "--report", "/")
    assert result.returncode == 2 and "'/'" not in result.stderr and "--report /" in result.stderr


def test_render_into_a_good_directory_still_works(tmp_path: Path) -> None:
    assert main(["render", *stack_args("prod"), "--out", str(tmp_path / "new" / "dir")]) == 0


# Ctrl-C


def test_ctrl_c_prints_one_line_exits_130_and_keeps_what_was_written(monkeypatch, capsys, tmp_path: Path) -> None:
    import voxdeploy.cli.render as render

    def interrupted(args) -> int:
        (tmp_path / "partial.yaml").write_text("written")
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "run", interrupted)
    assert main(["render", *stack_args("prod"), "--out", str(tmp_path)]) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "interrupted"
    assert (tmp_path / "partial.yaml").read_text() == "written"


# schema


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_every_shipped_stack_validates_against_the_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), stack_file_schema())


def test_schema_output_is_what_schema_prints(capsys) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == json.loads(json.dumps(stack_file_schema()))


def test_schema_accepts_what_the_loader_accepts() -> None:
    schema = stack_file_schema()
    document = yaml.safe_load((STACKS_DIR / "Pulumi.prod.yaml").read_text())
    document["config"]["kubernetes:context"] = "kind-voxdeploy"
    document["config"]["voxdeploy:hfToken"] = {"secure": "v1:abc"}
    document["config"]["slo"] = document["config"].pop("voxdeploy:slo")  # the loader reads bare keys too
    jsonschema.validate(document, schema)
    text = (STACKS_DIR / "Pulumi.prod.yaml").read_text()
    assert "cpu: 4," in text, "the shipped stack writes an integer where a quantity string is typed"
    for bad in ("4x", -1, True):
        wrong = yaml.safe_load(text)
        wrong["config"]["voxdeploy:cloud"]["pod"]["resources"]["requests"]["cpu"] = bad
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c["voxdeploy:cloud"].__setitem__("enabled", "yes"), "enabled"),
        (lambda c: c.__setitem__("voxdeploy:namespac", "x"), "voxdeploy:namespac"),
        (lambda c: c.__setitem__("voxdeploy:hfToken", "plain"), "voxdeploy:hfToken"),
    ],
)
def test_a_wrong_field_fails_naming_it(mutate, field: str) -> None:
    document = yaml.safe_load((STACKS_DIR / "Pulumi.prod.yaml").read_text())
    mutate(document["config"])
    errors = list(jsonschema.Draft202012Validator(stack_file_schema()).iter_errors(document))
    assert errors
    assert any(field in ("/".join(map(str, e.absolute_path)) + " " + e.message) for e in errors), [
        e.message for e in errors
    ]


# the engine registry and shared options


def test_engine_registry_is_the_contracts_union() -> None:
    assert {"sim": SimEngine, "vllm-omni": ProcessEngine, "llamacpp": ProcessEngine, "voxcpm": VoxcpmEngine} == ENGINES
    flags = {flag.flag for flag in engine_flags()}
    for model, prefix in ((SimEngine, "--sim-"), (ProcessEngine, "--engine-"), (VoxcpmEngine, "--")):
        for name, field in model.model_fields.items():
            if name != "kind":
                kebab = "".join(f"-{c.lower()}" if c.isupper() else c for c in field.alias or name)
                assert prefix + kebab in flags


def test_every_engine_flag_sets_its_field() -> None:
    from voxdeploy.cli.serve import runtime_config

    config = runtime_config(
        build_parser().parse_args(["serve", "--sim-chunk-seconds", "0.2", "--sim-first-audio", "0.01"])
    )
    assert config.engine.chunk_seconds == 0.2 and config.engine.first_audio_seconds == 0.01
    config = runtime_config(
        build_parser().parse_args(["serve", "--engine", "voxcpm", "--checkpoint", "/m", "--compile"])
    )
    assert config.engine.compile is True and config.engine.device == "cuda"


def test_a_section_of_the_engine_has_a_flag_per_field_under_its_name() -> None:
    from voxdeploy.cli.serve import runtime_config

    def lora(*flags: str) -> object:
        args = ["serve", "--engine", "voxcpm", "--checkpoint", "/m", *flags]
        return runtime_config(build_parser().parse_args(args)).engine.lora  # type: ignore[union-attr]

    assert lora() is None and lora("--no-lora") is None
    assert lora("--lora") == VoxcpmLora(), "on alone: voxcpm's own LoRA shape"
    assert lora("--lora-r", "32", "--no-lora-enable-dit") == VoxcpmLora(r=32, enable_dit=False)
    flags = {flag.flag for flag in engine_flags()}
    assert {f"--lora-{_kebab(field.alias or name)}" for name, field in VoxcpmLora.model_fields.items()} <= flags


def test_the_router_refuses_every_engine_flag() -> None:
    from voxdeploy.cli.serve import router_settings_from
    from voxdeploy.infra.config.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        router_settings_from(
            build_parser().parse_args(["serve", "--router", "--tier", "edge=http://a", "--engine-model", "m"])
        )
    assert [issue.path for issue in caught.value.issues] == ["--engine-model"]


def test_every_command_module_registers_itself() -> None:
    parser = build_parser()
    names = set(next(a for a in parser._actions if hasattr(a, "choices") and a.choices).choices)
    assert {"validate", "plan", "render", "schema", "serve", "loadtest", "demo", "completion", "rules"} <= names
    assert all(callable(module.register) for module in COMMANDS)


def test_version_and_python_m() -> None:
    from voxdeploy.contracts.version import VERSION

    result = voxdeploy("--version")
    assert result.returncode == 0 and VERSION in result.stdout
