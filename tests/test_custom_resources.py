"""Every custom resource voxdeploy renders fits the upstream CRD schema of a named version.

The walk renders every bundled stack as is and with each option that switches a custom kind on, with both
GitOps delivery manifests, through `voxdeploy render` itself, and validates every file: built-in kinds
against Kubernetes' schema, custom kinds against their CRD fixture (tests/support/schemas.py). A kind added
later without a fixture fails here, whether a stack renders it or only a literal in infra/ names its group.
"""

from __future__ import annotations

import ast
import copy
import functools
import re
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.support.schemas import CRD_SCHEMAS, is_custom_resource, validate_object
from tests.support.stacks import REPO, STACKS, mutated, read_stack_file, with_secret
from voxdeploy.cli import main as cli
from voxdeploy.infra.render import KUSTOMIZATION


def routed(stack: str, route: dict) -> dict:
    """The stack with `route` set, where it deploys a Service to route to (the edge-only stack has none)."""
    document = read_stack_file(stack)
    keys = document["config"]
    if not keys.get("voxdeploy:hybrid", {}).get("enabled") and keys.get("voxdeploy:cloud", {}).get("enabled") is False:
        return document
    return mutated(stack, "route", route)


OPTIONS: dict[str, Callable[[str], dict]] = {
    "as-is": read_stack_file,
    "externalSecret": lambda stack: with_secret(
        "externalSecret", stack, store={"name": "vault"}, remoteKeys={"hfToken": "voxcpm/hf"}
    ),
    "keda": lambda stack: mutated(stack, "cloud.autoscaling.signal", {"metric": "inFlight", "backend": "keda"}),
    "openyurt": lambda stack: mutated(stack, "edge.orchestrator", "openyurt"),
    "canary": lambda stack: mutated(stack, "cloud.rollout.strategy", "canary"),
    "httpRoute": lambda stack: routed(
        stack,
        {
            "kind": "httpRoute",
            "hostnames": ["tts.example.com"],
            "gateway": {"name": "public", "namespace": "gateway-infra"},
            "tls": {"secretName": "voxcpm-tls"},
        },
    ),
    "ingress": lambda stack: routed(
        stack,
        {
            "kind": "ingress",
            "hostnames": ["tts.example.com", "*.tts.example.com"],
            "tls": {"secretName": "voxcpm-tls", "certManager": {"issuerName": "internal-ca", "issuerKind": "Issuer"}},
        },
    ),
}
"""Stack document per option that switches a custom kind on (prometheus-operator objects are on by default)."""

API_VERSION = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+/v[0-9]+((alpha|beta)[0-9]+)?")
"""A string literal shaped like a grouped apiVersion (`keda.sh/v1alpha1`), as builders write them."""

Rendered = Callable[[str, str], list[dict]]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """(stack, option) -> every document `voxdeploy render --argocd --flux` writes, rendered once per module."""

    @functools.cache
    def render(stack: str, option: str) -> list[dict]:
        root = tmp_path_factory.mktemp(f"{stack}-{option}")
        source = root / f"Pulumi.{stack}.yaml"
        source.write_text(yaml.safe_dump(OPTIONS[option](stack)))
        out = root / "out"
        gitops = ["--argocd", "--repo-url", "https://git.example/ops.git", "--flux", "--repo-path", f"clusters/{stack}"]
        assert cli(["render", "--stack", str(source), "--out", str(out), *gitops]) == 0
        # kustomization.yaml is kustomize's build file, never sent to the API server
        return [yaml.safe_load(p.read_text()) for p in sorted(out.iterdir()) if p.name != KUSTOMIZATION]

    return render


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_fits_its_schema(rendered: Rendered, stack: str, option: str) -> None:
    documents = rendered(stack, option)
    kinds = {(d["apiVersion"], d["kind"]) for d in documents}
    assert {("argoproj.io/v1alpha1", "Application"), ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")} <= kinds
    for document in documents:
        validate_object(document)


def infra_api_versions() -> set[str]:
    """Every custom-resource apiVersion a string literal in infra/ names: kinds no stack renders yet count too."""
    found = set()
    for path in sorted((REPO / "infra").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and API_VERSION.fullmatch(node.value):
                found.add(node.value)
    return {version for version in found if is_custom_resource({"apiVersion": version})}


def test_the_walk_reaches_every_custom_kind_and_every_fixture(rendered: Rendered) -> None:
    """A fixture no render uses is stale; an apiVersion in infra/ no option renders escapes the walk above."""
    custom = {
        (d["apiVersion"], d["kind"])
        for stack in STACKS
        for option in OPTIONS
        for d in rendered(stack, option)
        if is_custom_resource(d)
    }
    assert custom == set(CRD_SCHEMAS)
    assert infra_api_versions() <= {version for version, _ in custom}, "add an option that renders it to OPTIONS"


@pytest.mark.parametrize(("api_version", "kind"), CRD_SCHEMAS)
def test_every_crd_fixture_names_its_source(api_version: str, kind: str) -> None:
    """The header says which version it is and where it came from, so it can be checked and refreshed."""
    path: Path = CRD_SCHEMAS[(api_version, kind)]
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    first = header.splitlines()[0]
    assert api_version in first and kind in first, first
    assert re.search(r"github\.com/[\w.-]+/[\w.-]+", header), "name the upstream repository"
    assert re.search(r"commit [0-9a-f]{40}", header), "name the upstream commit"
    assert "Apache" in header, "name the license"


def delivery(documents: list[dict], kind: str) -> dict:
    return copy.deepcopy(next(d for d in documents if d["kind"] == kind and is_custom_resource(d)))


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("Kustomization", lambda k: k["spec"].update(prune="true")),
        ("Kustomization", lambda k: k["spec"].update(interval=300)),
        ("Kustomization", lambda k: k["spec"]["sourceRef"].update(kind="HelmRepository")),
        ("Kustomization", lambda k: k["spec"].pop("sourceRef")),
        ("Kustomization", lambda k: k["spec"].update(paths=["./clusters/prod"])),
        ("Application", lambda a: a["spec"].pop("destination")),
        ("Application", lambda a: a["spec"].pop("project")),
        ("Application", lambda a: a["spec"]["syncPolicy"]["automated"].update(selfheal=True)),
        ("Application", lambda a: a["spec"]["syncPolicy"].update(syncOptions="ServerSideApply=true")),
    ],
    ids=[
        "flux-prune-string",
        "flux-interval-number",
        "flux-source-kind",
        "flux-no-source",
        "flux-unknown-field",
        "argocd-no-destination",
        "argocd-no-project",
        "argocd-unknown-field",
        "argocd-options-string",
    ],
)
def test_gitops_schemas_reject_a_broken_object(rendered: Rendered, kind: str, mutate: Callable[[dict], object]) -> None:
    broken = delivery(rendered("prod", "as-is"), kind)
    validate_object(broken)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate_object(broken)


def test_a_custom_kind_without_a_fixture_fails() -> None:
    """Flux's GitRepository is not rendered (the Kustomization names an existing one), so it has no fixture."""
    repository = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {"name": "x"}}
    with pytest.raises(LookupError, match="no CRD schema"):
        validate_object(repository)
