"""Runbooks: one page per alert plus the reference article's troubleshooting guides, rendered per stack,
with every alert's runbook_url and every link between pages pointing at a page that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.support.observability import config_named
from tests.support.stacks import STACKS_DIR
from voxdeploy.cli import main
from voxdeploy.infra.config import DeploymentConfig
from voxdeploy.infra.observability.alerts import as_rule
from voxdeploy.infra.observability.runbooks import GUIDES, INDEX, render_runbooks
from voxdeploy.infra.observability.watch import alert_rules

LINK = re.compile(r"\]\(([^)#]+)\)")


def test_every_alert_links_to_a_rendered_page(config: DeploymentConfig) -> None:
    pages = render_runbooks(config)
    base = config.observability.runbook_base_url + "/"
    for alert in alert_rules(config):
        url = as_rule(alert, config)["annotations"]["runbook_url"]
        assert url.removeprefix(base) in pages, alert.name
        assert pages[url.removeprefix(base)].startswith(f"# {alert.name}\n")


def test_links_between_pages_resolve(config: DeploymentConfig) -> None:
    pages = render_runbooks(config)
    for name, text in pages.items():
        for target in LINK.findall(text):
            assert target in pages, f"{name} links to missing {target}"


def test_guides_cover_the_reference_articles_troubleshooting(cloud_config: DeploymentConfig) -> None:
    pages = render_runbooks(cloud_config)
    assert {f"{guide}.md" for guide in GUIDES} | {INDEX} <= set(pages)
    for guide in GUIDES:
        text = pages[f"{guide}.md"]
        assert "## Causes" in text and "## Steps" in text


def test_guides_use_real_vllm_omni_flags_and_the_stack_values() -> None:
    config = DeploymentConfig.model_validate({"cloud": {"engine": {"gpuMemoryUtilization": 0.85, "maxNumSeqs": 16}}})
    pages = render_runbooks(config)
    oom, slow = pages["cuda-out-of-memory.md"], pages["slow-inference.md"]
    for flag in (
        "--gpu-memory-utilization",
        "--max-num-seqs",
        "--max-model-len",
        "--stage-overrides",
        "--enforce-eager",
        "--tensor-parallel-size",
    ):
        assert flag in oom + slow, flag
    assert "(now 0.85)" in oom and "(now 16)" in oom
    # The article's invented flags are named only to say they do not exist.
    assert "--max-num-blocks`)" in oom and "does not exist" in slow


def test_rendered_text_has_no_template_leftovers(config: DeploymentConfig) -> None:
    for name, text in render_runbooks(config).items():
        assert "{{" not in text.replace("{{code}}", "") and "{%" not in text, name


def test_cli_writes_rules_scrape_config_and_runbooks(tmp_path: Path) -> None:
    stack = str(STACKS_DIR / "Pulumi.prod.yaml")

    def run(*argv: str) -> int:
        return main(list(argv))

    assert run("rules", "--stack", stack, "--out", str(tmp_path / "rules.yaml")) == 0
    groups = yaml.safe_load((tmp_path / "rules.yaml").read_text())["groups"]
    assert any(rule.get("alert") == "HighInferenceLatency" for group in groups for rule in group["rules"])
    assert run("scrape-config", "--stack", stack, "--out", str(tmp_path / "scrape.yaml")) == 0
    (job,) = yaml.safe_load((tmp_path / "scrape.yaml").read_text())["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert run("runbooks", "--stack", stack, "--out", str(tmp_path / "runbooks")) == 0
    assert (tmp_path / "runbooks" / "high-inference-latency.md").is_file()


def test_cli_replaces_a_planted_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    stack = str(STACKS_DIR / "Pulumi.prod.yaml")
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "high-inference-latency.md").symlink_to(outside)
    (tmp_path / "rules.yaml").symlink_to(outside)
    assert main(["runbooks", "--stack", stack, "--out", str(tmp_path / "runbooks")]) == 0
    assert main(["rules", "--stack", stack, "--out", str(tmp_path / "rules.yaml")]) == 0
    assert outside.read_text() == "keep me"
    assert not (tmp_path / "rules.yaml").is_symlink() and "groups" in (tmp_path / "rules.yaml").read_text()


def test_cli_prints_the_scrape_config_and_rejects_a_bad_stack(write_stack, capsys) -> None:
    assert main(["scrape-config", "--stack", "dev"]) == 0
    assert "kubernetes_sd_configs" in capsys.readouterr().out
    bad = write_stack({"config": {"voxdeploy:observability": {"alerts": {"highInferenceLatency": {"for": "soon"}}}}})
    assert main(["rules", "--stack", str(bad)]) == 2
    assert "observability.alerts.highInferenceLatency" in capsys.readouterr().err
    no_cloud = write_stack({"config": {"voxdeploy:cloud": {"enabled": False}}}, name="nocloud")
    assert main(["runbooks", "--stack", str(no_cloud), "--out", "unused"]) == 2
    assert "cloud.enabled" in capsys.readouterr().err


def test_edge_and_router_pages_show_the_stacks_own_figures() -> None:
    hybrid = render_runbooks(config_named("hybrid"))
    rtf = hybrid["edge-high-real-time-factor.md"]
    assert "| `edge-jetson` | jetson-orin | Q4_K_M | cuda | 4.41 (1.5 x 2.94" in rtf
    assert "edge pools `edge-jetson`, `edge-i9`" in rtf and "→ `alerts → edge`" in rtf
    down = hybrid["edge-runtime-target-down.md"]
    assert "| Pending for | `30m` |" in down and "RuntimeTargetDown (`5m`)" in down
    router_down = hybrid["router-endpoint-down.md"]
    assert "http://fog-tts.voxcpm-hybrid.svc.cluster.local:8000" in router_down
    assert "router `voxcpm-router`" in router_down
    assert "port-forward service/voxcpm-router 8000:8000" in hybrid["router-tier-unavailable.md"]
    edge = render_runbooks(config_named("edge"))
    assert not set(GUIDES) & {page.removesuffix(".md") for page in edge}, "the guides troubleshoot vLLM-Omni"
    assert "31.89 (alerts at >= 25.0, the last bucket)" in edge["edge-high-real-time-factor.md"]
