"""The Pulumi program: a thin shell that registers the builders' objects as pulumi-kubernetes resources.

Each concern is a ComponentResource whose children are the typed pulumi-kubernetes class of every
object (or `apiextensions.CustomResource` for CRD kinds), created with the object's exact name so
`pulumi up` and `voxdeploy render` produce the same cluster state.
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from voxdeploy.infra.builders import Group, KubeObject, build_groups, meta
from voxdeploy.infra.builders.crds import required_crds
from voxdeploy.infra.builders.secrets import hf_token_metadata
from voxdeploy.infra.config import PROJECT, ConfigError, DeploymentConfig, config_from_keys, parse_config
from voxdeploy.infra.config.access_checks import auth_secrets, router_key
from voxdeploy.infra.config.errors import ConfigIssue
from voxdeploy.infra.config.safe_yaml import read_yaml_file
from voxdeploy.infra.config.secrets import SECRET_VALUE_KEYS
from voxdeploy.infra.render import file_name

TYPED_KINDS: dict[tuple[str, str], type[pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
}
"""Built-in kinds the builders emit; anything else is treated as a custom resource."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def resource_options(obj: KubeObject, parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """Parented under its concern; a Deployment with a progress deadline is awaited exactly that long, since
    pulumi-kubernetes otherwise gives up after 10 minutes on GPU pods allowed far longer to start."""
    spec = obj.get("spec")
    deadline = spec.get("progressDeadlineSeconds") if isinstance(spec, dict) else None
    if obj["kind"] != "Deployment" or deadline is None:
        return pulumi.ResourceOptions(parent=parent)
    wait = f"{deadline}s"
    return pulumi.ResourceOptions(parent=parent, custom_timeouts=pulumi.CustomTimeouts(create=wait, update=wait))


def register(obj: KubeObject, parent: pulumi.Resource) -> pulumi.CustomResource:
    """One Kubernetes object as its pulumi-kubernetes resource, named as in the rendered file."""
    api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
    logical_name = file_name(obj).removesuffix(".yaml")
    opts = resource_options(obj, parent)
    body: dict[str, typing.Any] = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
    resource_class = TYPED_KINDS.get((api_version, kind))
    if resource_class is None:
        return k8s.apiextensions.CustomResource(logical_name, api_version=api_version, kind=kind, opts=opts, **body)
    # Top-level fields become keyword arguments; nested dicts stay camelCase, which the provider takes as is.
    return resource_class(logical_name, opts=opts, **{_snake(key): value for key, value in body.items()})


def managed_secrets(
    config: DeploymentConfig, values: typing.Mapping[str, pulumi.Input[str]], opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    """With secrets.source pulumi, the Secrets the pods reference whose values the stack holds, kept secret in
    Pulumi's state: the HF token, the API keys (a JSON object, key name -> key) and the router's own key."""
    if config.secrets.source != "pulumi":
        return []
    made: list[pulumi.Resource] = []

    def secret(
        name: str, metadata: dict[str, object], data: pulumi.Input[typing.Mapping[str, pulumi.Input[str]]]
    ) -> None:
        made.append(
            k8s.core.v1.Secret(
                f"secret-{name}",
                metadata=typing.cast(k8s.meta.v1.ObjectMetaArgsDict, metadata),
                type="Opaque",
                string_data=data,
                opts=opts,
            )
        )

    reference = config.cloud.pod.model_cache.hf_token_secret
    if reference is not None and "hfToken" in values:
        secret(reference.name, hf_token_metadata(config), {reference.key: pulumi.Output.secret(values["hfToken"])})
    own = router_key(config)
    for name, value_key in auth_secrets(config).items():
        if value_key not in values:
            continue  # the Secret exists out of band
        metadata = meta.metadata(config, name, meta.labels(config, name, "secrets"))
        value = pulumi.Output.secret(values[value_key])
        if value_key == "routerKey" and own is not None:
            secret(name, metadata, {own.key: value})
        else:
            secret(name, metadata, value.apply(api_keys_data))
    return made


def api_keys_data(text: str) -> dict[str, str]:
    """The apiKeys Pulumi secret (a JSON object, key name -> key) as the Secret's data; a ValueError naming what is
    wrong and never a key."""
    try:
        keys = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("the Pulumi secret apiKeys must be a JSON object, key name -> key") from None
    if not isinstance(keys, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
        raise ValueError("the Pulumi secret apiKeys must be a JSON object of strings, key name -> key")
    return keys


class Concern(pulumi.ComponentResource):
    """One group of related objects (identity, serving, scaling...), parented under the environment."""

    def __init__(self, group: Group, opts: pulumi.ResourceOptions) -> None:
        super().__init__(f"{PROJECT}:index:Concern", group.concern, None, opts)
        self.resources = [register(obj, parent=self) for obj in group.objects]
        self.register_outputs({"objects": [file_name(obj) for obj in group.objects]})


def crd_preflight(objects: typing.Sequence[KubeObject], opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """Read every CustomResourceDefinition the custom resources need, so a cluster without an operator fails at
    preview with the CRD's name ('scaledobjects.keda.sh ... not found') rather than halfway through `up`."""
    return [
        k8s.apiextensions.v1.CustomResourceDefinition.get(f"crd-{name}", name, opts=opts)
        for name in required_crds(objects)
    ]


class Environment(pulumi.ComponentResource):
    """A whole environment. The namespace comes first; then the Secrets and the CRDs the rest needs, so no pod
    starts before the Secret it reads exists and no custom resource is sent to a cluster that lacks its kind."""

    def __init__(
        self,
        name: str,
        config: DeploymentConfig,
        secrets: typing.Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{PROJECT}:index:Environment", name, None, opts)
        groups = build_groups(config)
        objects = [obj for group in groups for obj in group.objects]
        self.crds = crd_preflight(objects, pulumi.ResourceOptions(parent=self))
        self.concerns: list[Concern] = [
            Concern(group, pulumi.ResourceOptions(parent=self)) for group in groups if group.concern == "namespace"
        ]
        before: list[pulumi.Resource] = list(self.concerns)
        self.secrets = managed_secrets(config, secrets or {}, pulumi.ResourceOptions(parent=self, depends_on=before))
        before += self.secrets
        for group in groups:
            if group.concern == "namespace":
                continue
            concern = Concern(group, pulumi.ResourceOptions(parent=self, depends_on=[*before, *self.crds]))
            self.concerns.append(concern)
            if group.concern == "secrets":
                before.append(concern)
        cloud = config.cloud
        self.namespace = config.namespace
        self.service = cloud.name if cloud.enabled else None
        self.endpoint = (
            f"http://{cloud.name}.{config.namespace}.svc.cluster.local:{cloud.service.port}" if cloud.enabled else None
        )
        self.register_outputs({"namespace": self.namespace, "service": self.service, "endpoint": self.endpoint})


def _string_typed(key: str) -> bool:
    field = DeploymentConfig.model_fields.get(key) or next(
        (f for f in DeploymentConfig.model_fields.values() if f.alias == key), None
    )
    if field is None:
        return False
    return field.annotation is str or typing.get_origin(field.annotation) is typing.Literal


def decode_pulumi_value(key: str, value: object) -> object:
    """Pulumi hands the program every value as text, objects as JSON; text-typed keys stay text."""
    if not isinstance(value, str) or _string_typed(key.rpartition(":")[2]):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


CONFIG_KEYS: tuple[str, ...] = tuple(field.alias or name for name, field in DeploymentConfig.model_fields.items())
"""The stack keys the program reads (`voxdeploy:<key>`): the config model's top-level fields."""


def unknown_stack_keys(stack_file: Path) -> list[str]:
    """`voxdeploy:` keys of the stack file that the program would not read: pulumi.Config can only be asked for
    keys by name, so a misspelt key would otherwise be dropped without a word."""
    if not stack_file.is_file():
        return []
    document = read_yaml_file(stack_file) or {}
    keys = config_from_keys((document.get("config") or {}) if isinstance(document, dict) else {}, str(stack_file))
    return sorted(set(keys) - set(CONFIG_KEYS) - set(SECRET_VALUE_KEYS))


def config_from_pulumi() -> tuple[DeploymentConfig, dict[str, pulumi.Output[str]]]:
    """(config, secret values) as the Pulumi engine passes them, through the same checks as the CLI.

    Read through the public pulumi.Config, key by key; secret values stay Pulumi secrets (Outputs) and reach only
    `managed_secrets`, so no plain value of one exists in the program.
    """
    source = f"pulumi stack {pulumi.get_stack()}"
    unknown = unknown_stack_keys(Path(f"Pulumi.{pulumi.get_stack()}.yaml"))
    if unknown:
        raise ConfigError(
            source,
            [
                ConfigIssue(key, "(set)", f"not a key of this project; valid keys: {', '.join(CONFIG_KEYS)}")
                for key in unknown
            ],
        )
    stack = pulumi.Config(PROJECT)
    document = {key: decode_pulumi_value(key, value) for key in CONFIG_KEYS if (value := stack.get(key)) is not None}
    secrets = {key: token for key in SECRET_VALUE_KEYS if (token := stack.get_secret(key)) is not None}
    return parse_config(document, source, secrets), secrets


def main(
    config: DeploymentConfig | None = None, secrets: typing.Mapping[str, pulumi.Input[str]] | None = None
) -> Environment:
    """Entry of `pulumi up`: build the environment and export where it can be reached."""
    if config is None:
        config, from_stack = config_from_pulumi()
        secrets = from_stack
    environment = Environment(config.environment, config, secrets)
    pulumi.export("namespace", environment.namespace)
    pulumi.export("service", environment.service)
    pulumi.export("endpoint", environment.endpoint)
    return environment
