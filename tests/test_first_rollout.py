"""The first `pulumi up` of a GPU stack: deadlines sized from the startup budget, CRDs checked before custom
resources are sent, and no pod started before the Secret it reads."""

from __future__ import annotations

import math
import re

import pulumi
import pytest
import yaml

from tests.support.pulumi_mocks import as_pulumi_config, fresh_mocks
from tests.support.schemas import CRD_SCHEMAS
from tests.support.stacks import STACKS, read_stack_file, with_secret
from voxdeploy.infra import pulumi_program
from voxdeploy.infra.builders import build_objects
from voxdeploy.infra.builders.crds import crd_name, required_crds
from voxdeploy.infra.config import ConfigError, load_stack
from voxdeploy.infra.config.cloud import NODE_PROVISION_SECONDS

KUBERNETES_DEFAULT_PROGRESS_DEADLINE = 600
"""spec.progressDeadlineSeconds when unset (Kubernetes apps/v1 Deployment API reference)."""


def prod_deployment() -> dict:
    return next(o for o in build_objects(load_stack("prod").config) if o["kind"] == "Deployment")


def test_the_progress_deadline_outlasts_the_slowest_start_the_pod_may_take() -> None:
    config = load_stack("prod").config
    spec = prod_deployment()["spec"]
    container = spec["template"]["spec"]["containers"][0]
    startup = container["startupProbe"]
    probe_window = startup["periodSeconds"] * startup["failureThreshold"]
    slowest = NODE_PROVISION_SECONDS + config.cloud.pod.model_cache.max_download_seconds + probe_window
    assert spec["progressDeadlineSeconds"] > slowest > KUBERNETES_DEFAULT_PROGRESS_DEADLINE


def test_a_rollout_replaces_a_quarter_of_the_fleet_at_once_and_never_drops_below_it() -> None:
    config = load_stack("prod").config
    strategy = prod_deployment()["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxSurge": "25%", "maxUnavailable": 0}
    most = config.cloud.autoscaling.max_replicas
    assert math.ceil(most * 0.25) == 3, "at 10 replicas three new GPU pods start together (Kubernetes rounds up)"


def test_the_budget_takes_one_pod_at_a_time_whatever_the_fleet_size() -> None:
    budget = next(o for o in build_objects(load_stack("prod").config) if o["kind"] == "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1 and "minAvailable" not in budget["spec"]


class Recorder:
    """Captures the ResourceOptions the program hands each resource class and each concern."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.options: dict[str, pulumi.ResourceOptions] = {}
        self.concerns: dict[str, pulumi.ResourceOptions] = {}
        original_register, original_concern = pulumi_program.resource_options, pulumi_program.Concern.__init__

        def resource_options(obj, parent):
            opts = original_register(obj, parent)
            self.options[f"{obj['kind']}/{obj['metadata']['name']}"] = opts
            return opts

        def concern(this, group, opts):
            self.concerns[group.concern] = opts
            original_concern(this, group, opts)

        monkeypatch.setattr(pulumi_program, "resource_options", resource_options)
        monkeypatch.setattr(pulumi_program.Concern, "__init__", concern)


def run(stack_keys: dict, stack: str = "prod", secret: str | None = None):
    mocks = fresh_mocks(stack)
    keys = as_pulumi_config(stack_keys)
    if secret is not None:
        keys["voxdeploy:hfToken"] = secret
    pulumi.runtime.set_all_config(keys, secret_keys=["voxdeploy:hfToken"] if secret else None)
    result = {}
    pulumi.runtime.test(lambda: result.setdefault("environment", pulumi_program.main()))()
    return mocks, result["environment"]


def test_pulumi_waits_for_the_deployment_as_long_as_its_progress_deadline(monkeypatch) -> None:
    recorder = Recorder(monkeypatch)
    run(read_stack_file("prod")["config"])
    deadline = prod_deployment()["spec"]["progressDeadlineSeconds"]
    timeouts = recorder.options["Deployment/voxcpm"].custom_timeouts
    assert timeouts is not None and timeouts.create == timeouts.update == f"{deadline}s"
    assert recorder.options["Service/voxcpm"].custom_timeouts is None


@pytest.mark.parametrize("stack", STACKS)
def test_the_program_reads_every_crd_its_custom_resources_need(stack: str) -> None:
    mocks, _ = run(read_stack_file(stack)["config"], stack)
    read = sorted(r.resource_id for r in mocks.reads if r.typ.endswith("CustomResourceDefinition"))
    assert read == required_crds(build_objects(load_stack(stack).config))


def upstream_crd_name(api_version: str, kind: str) -> str:
    """The CRD's name as its upstream file gives it: `<group>_<plural>.yaml` (controller-gen), or the header."""
    header = CRD_SCHEMAS[(api_version, kind)].read_text().split("\ndescription:", 1)[0]
    named = re.search(r"CRD metadata\.name[^:]*: ([a-z0-9.-]+)\.", header)
    if named:
        return named.group(1)
    group, plural = re.search(r"/([a-z0-9.-]+)_([a-z]+)\.yaml", header).groups()
    return f"{plural}.{group}"


@pytest.mark.parametrize(("api_version", "kind"), sorted(CRD_SCHEMAS))
def test_crd_names_are_the_upstream_ones(api_version: str, kind: str) -> None:
    assert crd_name(api_version, kind) == upstream_crd_name(api_version, kind)


def test_an_unknown_custom_kind_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="Experiment"):
        crd_name("argoproj.io/v1alpha1", "Experiment")


def test_workloads_wait_for_the_secret_they_read(monkeypatch) -> None:
    recorder = Recorder(monkeypatch)
    document = with_secret("pulumi")
    _, environment = run(document["config"], secret="hf_plaintext_token")
    assert len(environment.secrets) == 1
    serving = recorder.concerns["cloud-serving"]
    assert environment.secrets[0] in serving.depends_on
    assert not recorder.concerns["namespace"].depends_on, "the Secret lives in the namespace: it comes after it"


def test_a_misspelt_stack_key_is_an_error_not_a_silent_default(tmp_path, monkeypatch) -> None:
    keys = read_stack_file("prod")["config"]
    keys["voxdeploy:clod"] = {"enabled": True}
    (tmp_path / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": keys}))
    monkeypatch.chdir(tmp_path)
    fresh_mocks("prod")
    pulumi.runtime.set_all_config(as_pulumi_config(keys))
    with pytest.raises(ConfigError) as caught:
        pulumi_program.config_from_pulumi()
    assert caught.value.issues[0].path == "clod" and "cloud" in caught.value.issues[0].message
