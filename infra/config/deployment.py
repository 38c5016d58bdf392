"""The root of a stack's configuration: one environment, described once."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from voxdeploy.contracts.base import StrictModel
from voxdeploy.contracts.slo import SloTargets
from voxdeploy.infra.config.auth import AuthConfig
from voxdeploy.infra.config.base import DNS_LABEL, DnsLabel
from voxdeploy.infra.config.batch import BatchConfig
from voxdeploy.infra.config.capacity import CapacityPlanning
from voxdeploy.infra.config.cloud import CloudTier
from voxdeploy.infra.config.edge import EdgeTier
from voxdeploy.infra.config.hybrid import HybridRouter
from voxdeploy.infra.config.loadtest import LoadTestConfig
from voxdeploy.infra.config.observability import Observability
from voxdeploy.infra.config.policy import PolicyConfig
from voxdeploy.infra.config.route import RouteConfig
from voxdeploy.infra.config.secrets import SecretsConfig
from voxdeploy.infra.config.voices import SpeechApiConfig, VoicesConfig

Stage = Literal["dev", "staging", "prod"]


class DeploymentConfig(StrictModel):
    """One environment: the input of every builder, the Pulumi program and `voxdeploy render`."""

    environment: str = Field(
        "dev", pattern=DNS_LABEL, description="Environment name, used in labels (dev, prod-eu...)."
    )
    stage: Stage = Field("dev", description="Release stage; prod forbids mutable image tags such as latest.")
    namespace: DnsLabel = Field("voxcpm", description="Namespace every object goes into.")
    create_namespace: bool = Field(True, description="Create the namespace (labelled for Pod Security 'restricted').")
    part_of: DnsLabel = Field("voxdeploy", description="Value of app.kubernetes.io/part-of.")
    labels: dict[str, str] = Field({}, description="Extra labels on every object (never in selectors).")
    cloud: CloudTier = Field(CloudTier(), description="The GPU tier running vLLM-Omni.")
    edge: EdgeTier = Field(EdgeTier(), description="Edge node pools running llama.cpp-omni.")
    hybrid: HybridRouter = Field(HybridRouter(), description="The edge / fog / cloud router.")
    route: RouteConfig = Field(
        RouteConfig(), description="A route in from outside the cluster: Gateway API HTTPRoute or Ingress."
    )
    batch: BatchConfig = Field(
        BatchConfig(), description="A file of requests synthesized by an Indexed Job against the cloud tier."
    )
    loadtest: LoadTestConfig = Field(
        LoadTestConfig(),
        description="The release gate in the cluster: Locust distributed over pods against the cloud tier or the "
        "router, judged by slo.",
    )
    voices: VoicesConfig = Field(VoicesConfig(), description="Named voices, OpenAI's names, the voice store.")
    speech_api: SpeechApiConfig = Field(SpeechApiConfig(), description="Defaults of the OpenAI speech API.")
    auth: AuthConfig = Field(
        AuthConfig(), description="API keys every pod checks (cloud, edge pools, router), from a Secret."
    )
    slo: SloTargets = Field(SloTargets(), description="Load-test gate targets.")
    secrets: SecretsConfig = Field(SecretsConfig(), description="Where referenced Secrets come from.")
    observability: Observability = Field(
        Observability(), description="Alert rules, scraping, dashboard and runbooks of the cloud tier."
    )
    capacity: CapacityPlanning = Field(
        CapacityPlanning(), description="Capacity and cost plan of the cloud tier (`voxdeploy plan`)."
    )
    policy: PolicyConfig = Field(
        PolicyConfig(),
        description="Checks on the built objects before anything is applied: GPU quota, severities, waivers.",
    )
