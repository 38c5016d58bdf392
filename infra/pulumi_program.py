"""The Pulumi program: a thin shell that registers the builders' objects as pulumi-kubernetes resources.

Each concern is a ComponentResource whose children are the typed pulumi-kubernetes class of every
object (or `apiextensions.CustomResource` for CRD kinds), created with the object's exact name so
`pulumi up` and `voxdeploy render` produce the same cluster state.
"""

from __future__ import annotations

import json
import re
import typing

import pulumi
import pulumi_kubernetes as k8s
from pulumi.runtime import config as pulumi_config

from voxdeploy.infra.builders import Group, KubeObject, build_groups
from voxdeploy.infra.builders.secrets import hf_token_metadata
from voxdeploy.infra.config import PROJECT, DeploymentConfig, config_from_keys, parse_config
from voxdeploy.infra.config.loader import split_secrets
from voxdeploy.infra.render import file_name

TYPED_KINDS: dict[tuple[str, str], type[pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "PersistentVolumeClaim"): k8s.core.v1.PersistentVolumeClaim,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): k8s.autoscaling.v2.HorizontalPodAutoscaler,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
}
"""Built-in kinds the builders emit; anything else is treated as a custom resource."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def register(obj: KubeObject, parent: pulumi.Resource) -> pulumi.CustomResource:
    """One Kubernetes object as its pulumi-kubernetes resource, named as in the rendered file."""
    api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
    logical_name = file_name(obj).removesuffix(".yaml")
    opts = pulumi.ResourceOptions(parent=parent)
    body: dict[str, typing.Any] = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
    resource_class = TYPED_KINDS.get((api_version, kind))
    if resource_class is None:
        return k8s.apiextensions.CustomResource(logical_name, api_version=api_version, kind=kind, opts=opts, **body)
    # Top-level fields become keyword arguments; nested dicts stay camelCase, which the provider takes as is.
    return resource_class(logical_name, opts=opts, **{_snake(key): value for key, value in body.items()})


def managed_secrets(
    config: DeploymentConfig, values: dict[str, object], opts: pulumi.ResourceOptions
) -> list[pulumi.Resource]:
    """With secrets.source pulumi, the Secret the pods reference, its value kept secret in Pulumi's state."""
    reference = config.cloud.pod.model_cache.hf_token_secret
    if config.secrets.source != "pulumi" or reference is None or "hfToken" not in values:
        return []
    metadata = hf_token_metadata(config)
    return [
        k8s.core.v1.Secret(
            f"secret-{reference.name}",
            metadata=typing.cast(k8s.meta.v1.ObjectMetaArgsDict, metadata),
            type="Opaque",
            string_data={reference.key: pulumi.Output.secret(str(values["hfToken"]))},
            opts=opts,
        )
    ]


class Concern(pulumi.ComponentResource):
    """One group of related objects (identity, serving, scaling...), parented under the environment."""

    def __init__(self, group: Group, opts: pulumi.ResourceOptions) -> None:
        super().__init__(f"{PROJECT}:index:Concern", group.concern, None, opts)
        self.resources = [register(obj, parent=self) for obj in group.objects]
        self.register_outputs({"objects": [file_name(obj) for obj in group.objects]})


class Environment(pulumi.ComponentResource):
    """A whole environment; the namespace group is created before everything that lives in it."""

    def __init__(
        self,
        name: str,
        config: DeploymentConfig,
        secrets: dict[str, object] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{PROJECT}:index:Environment", name, None, opts)
        self.concerns: list[Concern] = []
        first: list[pulumi.Resource] = []
        for group in build_groups(config):
            concern = Concern(group, pulumi.ResourceOptions(parent=self, depends_on=first))
            self.concerns.append(concern)
            if group.concern == "namespace":
                first = [concern]
        self.secrets = managed_secrets(config, secrets or {}, pulumi.ResourceOptions(parent=self, depends_on=first))
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


def config_from_pulumi() -> tuple[DeploymentConfig, dict[str, object]]:
    """(config, secret values) as the Pulumi engine passes them, through the same checks as the CLI.

    Values Pulumi marks secret are split off before validation: they reach only `managed_secrets`.
    """
    raw = {**pulumi_config.get_config_env(), **pulumi_config.CONFIG.get()}
    keys = {key: decode_pulumi_value(key, value) for key, value in raw.items()}
    secret_keys = {key.rpartition(":")[2] for key in raw if pulumi_config.is_config_secret(key)}
    document, secrets = split_secrets(config_from_keys(keys), lambda name, _: name in secret_keys)
    return parse_config(document, f"pulumi stack {pulumi.get_stack()}", secrets), secrets


def main(config: DeploymentConfig | None = None, secrets: dict[str, object] | None = None) -> Environment:
    """Entry of `pulumi up`: build the environment and export where it can be reached."""
    if config is None:
        config, secrets = config_from_pulumi()
    environment = Environment(config.environment, config, secrets)
    pulumi.export("namespace", environment.namespace)
    pulumi.export("service", environment.service)
    pulumi.export("endpoint", environment.endpoint)
    return environment
