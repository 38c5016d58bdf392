"""GitOps: the rendered directory as Argo CD and Flux consume it, drift checks, and secrets kept out."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pulumi
import pytest
import yaml

from tests.support.pulumi_mocks import as_pulumi_config, fresh_mocks
from tests.support.schemas import validate_object
from tests.support.stacks import STACKS, STACKS_DIR, mutated, read_stack_file, with_secret
from voxdeploy.cli import EXIT_USAGE
from voxdeploy.cli import main as cli
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import ConfigError, load_stack
from voxdeploy.infra.pulumi_program import main
from voxdeploy.infra.render import render_files, repository_path

PLAINTEXT = "hf_PLAINTEXT_TOKEN_5f2b9c"
CIPHERTEXT = "v1:AAABAExampleCiphertextZm9vYmFy"


def render(*args: str) -> int:
    return cli(["render", "--stacks-dir", str(STACKS_DIR), *args])


def test_argocd_and_flux_manifests_point_at_the_directory(tmp_path: Path) -> None:
    out = tmp_path / "prod"
    assert (
        render(
            "--stack",
            "prod",
            "--out",
            str(out),
            "--argocd",
            "--repo-url",
            "https://git.example/ops.git",
            "--repo-path",
            "clusters/prod",
            "--revision",
            "main",
            "--flux",
        )
        == 0
    )
    app = yaml.safe_load((out / "argocd-application.yaml").read_text())
    assert app["kind"] == "Application" and app["spec"]["source"] == {
        "repoURL": "https://git.example/ops.git",
        "path": "clusters/prod",
        "targetRevision": "main",
    }
    assert app["spec"]["destination"]["namespace"] == "voxcpm"
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    flux = yaml.safe_load((out / "flux-kustomization.yaml").read_text())
    assert flux["spec"]["path"] == "./clusters/prod" and flux["spec"]["prune"] is True
    listed = yaml.safe_load((out / "kustomization.yaml").read_text())["resources"]
    assert "argocd-application.yaml" not in listed and "flux-kustomization.yaml" not in listed


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (Debian kubernetes-client) not installed")
@pytest.mark.parametrize("stack", STACKS)
def test_kubectl_kustomize_builds_every_stack_unchanged(tmp_path: Path, stack: str) -> None:
    assert render("--stack", stack, "--out", str(tmp_path), "--flux", "--repo-path", f"clusters/{stack}") == 0
    built = subprocess.run(["kubectl", "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    documents = [d for d in yaml.safe_load_all(built.stdout) if d]
    rendered = build_objects(load_stack(stack, STACKS_DIR).config)
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(documents, key=key) == sorted(json.loads(json.dumps(rendered)), key=key)


def test_argocd_needs_a_repository(tmp_path: Path, capsys) -> None:
    assert render("--stack", "prod", "--out", str(tmp_path), "--argocd") == 2
    assert "--repo-url" in capsys.readouterr().err


def test_check_finds_drift(tmp_path: Path, write_stack, capsys) -> None:
    out = tmp_path / "prod"
    assert render("--stack", "prod", "--out", str(out)) == 0
    assert render("--stack", "prod", "--out", str(out), "--check") == 0
    changed = write_stack(mutated("prod", "cloud.autoscaling.maxReplicas", 12), name="prod")
    capsys.readouterr()
    assert cli(["render", "--stack", str(changed), "--out", str(out), "--check"]) == 1
    report = capsys.readouterr().out
    assert "changed: horizontalpodautoscaler-voxcpm.yaml" in report and "out of date" in report
    (out / "service-voxcpm.yaml").unlink()
    assert render("--stack", "prod", "--out", str(out), "--check") == 1
    assert "missing: service-voxcpm.yaml" in capsys.readouterr().out


def test_pulumi_secret_becomes_a_managed_secret_and_never_a_file(write_stack, tmp_path: Path) -> None:
    document = with_secret("pulumi")
    document["config"]["voxdeploy:hfToken"] = {"secure": CIPHERTEXT}
    stack = load_stack(str(write_stack(document)))
    files = render_files(build_objects(stack.config), "prod")
    assert not any(PLAINTEXT in text or CIPHERTEXT in text for text in files.values())
    pod = yaml.safe_load(files["deployment-voxcpm.yaml"])["spec"]["template"]["spec"]
    token = {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}}
    assert token in pod["initContainers"][0]["env"], "the download reads the token"
    assert token not in pod["containers"][0]["env"], "the offline server has no use for it"

    mocks = fresh_mocks("prod")
    keys = {k: v for k, v in document["config"].items() if k != "voxdeploy:hfToken"}
    pulumi.runtime.set_all_config(
        {**as_pulumi_config(keys), "voxdeploy:hfToken": PLAINTEXT}, secret_keys=["voxdeploy:hfToken"]
    )
    pulumi.runtime.test(lambda: main())()
    secrets = [r for r in mocks.resources if r.typ == "kubernetes:core/v1:Secret"]
    assert len(secrets) == 1 and secrets[0].inputs["metadata"]["name"] == "hf-token"


def test_external_secret_materialises_the_reference(write_stack) -> None:
    document = with_secret("externalSecret", store={"name": "vault"}, remoteKeys={"hfToken": "voxcpm/hf"})
    objects = build_objects(load_stack(str(write_stack(document))).config)
    external = next(o for o in objects if o["kind"] == "ExternalSecret")
    assert external["spec"]["target"]["name"] == "hf-token"
    assert external["spec"]["data"] == [{"secretKey": "token", "remoteRef": {"key": "voxcpm/hf"}}]
    assert external["spec"]["secretStoreRef"] == {"name": "vault", "kind": "ClusterSecretStore"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_external_secret_matches_the_v1_crd(write_stack, stack: str) -> None:
    """ESO v0.17.0 stopped serving v1beta1: every ExternalSecret is external-secrets.io/v1 and fits its CRD."""
    document = with_secret("externalSecret", stack, store={"name": "vault"}, remoteKeys={"hfToken": "voxcpm/hf"})
    as_is = build_objects(load_stack(stack, STACKS_DIR).config)
    with_store = build_objects(load_stack(str(write_stack(document))).config)
    externals = [o for o in [*as_is, *with_store] if o["kind"] == "ExternalSecret"]
    assert externals, "the mutated stack renders an ExternalSecret"
    for external in externals:
        assert external["apiVersion"] == "external-secrets.io/v1"
        validate_object(external)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "secretStoreRefs"), {"name": "vault"}),
        (("spec", "refreshInterval"), 3600),
        (("spec", "data"), [{"secretKey": "token", "remoteRef": {"key": "k", "versionId": "1"}}]),
        (("spec", "secretStoreRef", "kind"), "Vault"),
    ],
)
def test_external_secret_schema_rejects_unknown_and_mistyped_fields(write_stack, path: tuple, value: object) -> None:
    document = with_secret("externalSecret", store={"name": "vault"}, remoteKeys={"hfToken": "voxcpm/hf"})
    objects = build_objects(load_stack(str(write_stack(document))).config)
    external = copy.deepcopy(next(o for o in objects if o["kind"] == "ExternalSecret"))
    *parents, last = path
    node = external
    for key in parents:
        node = node[key]
    node[last] = value
    with pytest.raises(jsonschema.ValidationError):
        validate_object(external)


def test_external_secret_is_what_the_served_crd_accepts(write_stack) -> None:
    document = with_secret("externalSecret", store={"name": "vault"}, remoteKeys={"hfToken": "voxcpm/hf"})
    objects = build_objects(load_stack(str(write_stack(document))).config)
    external = next(o for o in objects if o["kind"] == "ExternalSecret")
    assert external["apiVersion"] == "external-secrets.io/v1"
    validate_object(external)
    wrong = {**external, "spec": {**external["spec"], "refreshInterval": 3600, "secretStore": {"name": "vault"}}}
    with pytest.raises(jsonschema.ValidationError):
        validate_object(wrong)


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (with_secret("pulumi"), "hfToken"),
        (with_secret("externalSecret", remoteKeys={"hfToken": "k"}), "secrets.store"),
        (with_secret("externalSecret", store={"name": "vault"}), "secrets.remoteKeys"),
        ({**mutated("prod", "secrets", {"source": "pulumi"})}, "secrets.source"),
    ],
)
def test_secret_sources_are_checked(write_stack, document: dict, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_stack(str(write_stack(document)))
    assert path in [issue.path for issue in caught.value.issues]


def test_a_pulumi_secret_needs_source_pulumi(write_stack) -> None:
    document = read_stack_file("prod")
    document["config"]["voxdeploy:hfToken"] = {"secure": CIPHERTEXT}
    with pytest.raises(ConfigError, match=r"set secrets\.source: pulumi"):
        load_stack(str(write_stack(document)))


@pytest.mark.parametrize("stack", STACKS)
def test_no_rendered_stack_contains_secret_material(tmp_path: Path, stack: str) -> None:
    assert render("--stack", stack, "--out", str(tmp_path)) == 0
    for path in tmp_path.iterdir():
        text = path.read_text()
        assert yaml.safe_load(text)["kind"] != "Secret", f"{path.name}: Secrets are referenced, never rendered"
        assert "secure:" not in text and PLAINTEXT not in text


def test_the_gitops_path_is_relative_to_the_git_work_tree(tmp_path: Path) -> None:
    """An absolute --out inside a checkout becomes its repository path (it used to be `.//<absolute path>`)."""
    (tmp_path / ".git").mkdir()
    out = tmp_path / "clusters" / "prod"
    assert render("--stack", "prod", "--out", str(out), "--flux") == 0
    assert yaml.safe_load((out / "flux-kustomization.yaml").read_text())["spec"]["path"] == "./clusters/prod"
    assert repository_path(Path("clusters/prod"), None, tmp_path) == "clusters/prod"
    assert repository_path(Path("."), None, tmp_path) == "."
    assert repository_path(out, "./ops/prod", Path("/")) == "ops/prod"


@pytest.mark.parametrize(
    ("repo_path", "named"),
    [(None, "not inside a Git work tree"), ("/abs/prod", "must be relative"), ("../elsewhere", "stay inside")],
)
def test_a_gitops_path_that_cannot_be_the_repositorys_is_refused(
    tmp_path: Path, capsys, repo_path: str | None, named: str
) -> None:
    extra = [] if repo_path is None else ["--repo-path", repo_path]
    assert render("--stack", "prod", "--out", str(tmp_path / "prod"), "--flux", *extra) == EXIT_USAGE
    assert named in capsys.readouterr().err
    assert not (tmp_path / "prod" / "flux-kustomization.yaml").exists()
