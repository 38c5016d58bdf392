"""The Pulumi program under Pulumi's own mocks: what it registers is what `render` writes."""

from __future__ import annotations

import pulumi
import pytest
import yaml

from tests.support.pulumi_mocks import as_pulumi_config, fresh_mocks, run_program
from tests.support.stacks import STACKS, STACKS_DIR, read_stack_file
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.config import PROJECT, ConfigError, load_stack
from voxdeploy.infra.pulumi_program import TYPED_KINDS, config_from_pulumi
from voxdeploy.infra.render import render_files


def integers_as_floats(value: object) -> object:
    """Pulumi's wire format carries numbers as floats; compare on that footing."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: integers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integers_as_floats(v) for v in value]
    return value


@pytest.mark.parametrize("stack", STACKS)
def test_registered_objects_equal_rendered_files(stack: str) -> None:
    mocks, _ = run_program(stack)
    registered = [integers_as_floats(r.inputs) for r in mocks.resources if r.typ.startswith("kubernetes:")]
    files = render_files(build_objects(load_stack(stack, STACKS_DIR).config), stack)
    rendered = [
        integers_as_floats(yaml.safe_load(text)) for name, text in files.items() if name != "kustomization.yaml"
    ]
    key = lambda obj: (obj["kind"], obj["metadata"]["name"])  # noqa: E731
    assert sorted(registered, key=key) == sorted(rendered, key=key)
    assert len(registered) == len(files) - 1


@pytest.mark.parametrize("stack", STACKS)
def test_built_in_kinds_use_typed_classes_under_concern_components(stack: str) -> None:
    mocks, result = run_program(stack)
    for args in mocks.resources:
        if args.typ.startswith("kubernetes:"):
            api_version, kind = args.inputs["apiVersion"], args.inputs["kind"]
            if (api_version, kind) not in TYPED_KINDS:
                assert "." in api_version.partition("/")[0], f"{kind} is built in but has no typed class"
            group = api_version.rpartition("/")[0] or "core"
            version = api_version.rpartition("/")[2]
            assert args.typ == f"kubernetes:{group}/{version}:{kind}"
    assert result["urns"] and result["concern_urns"]
    for urn in result["urns"]:
        assert f"{PROJECT}:index:Concern$kubernetes:" in urn
    for urn in result["concern_urns"]:
        assert f"{PROJECT}:index:Environment${PROJECT}:index:Concern::" in urn


def test_prod_registers_gpu_pods_hpa_and_pdb() -> None:
    mocks, result = run_program("prod")
    inputs = {args.inputs["kind"]: args.inputs for args in mocks.resources if args.typ.startswith("kubernetes:")}
    container = inputs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    hpa = inputs["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2.0, 10.0)
    assert inputs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1.0
    assert inputs["Deployment"]["metadata"]["labels"]["app.kubernetes.io/instance"] == "voxcpm-prod"
    environment = result["environment"]
    assert environment.endpoint == "http://voxcpm.voxcpm.svc.cluster.local:8000"


def test_invalid_pulumi_config_fails_with_the_path() -> None:
    fresh_mocks("broken")
    keys = read_stack_file("prod")["config"]
    keys["voxdeploy:cloud"]["autoscaling"]["minReplicas"] = 20
    pulumi.runtime.set_all_config(as_pulumi_config(keys))
    with pytest.raises(ConfigError) as caught:
        config_from_pulumi()
    assert caught.value.issues[0].path == "cloud.autoscaling.minReplicas"
    assert "pulumi stack broken" in str(caught.value)
