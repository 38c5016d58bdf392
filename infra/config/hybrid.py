"""The hybrid router's deployment: one endpoint that sends each request to edge, fog or cloud by its profile.

Endpoints default to the services this stack itself deploys, so a hybrid stack needs no URLs typed twice.
"""

from __future__ import annotations

from pydantic import Field

from voxdeploy.contracts.router import RouterBehaviour, Tier
from voxdeploy.infra.config.base import DnsLabel
from voxdeploy.infra.config.cloud import ComputeResources, Image, Resources


class HybridRouter(RouterBehaviour):
    """The router deployment; its routing, health checks and limits are the router's own settings model."""

    enabled: bool = Field(False, description="Deploy the hybrid router.")
    name: DnsLabel = Field("voxcpm-router", description="Name of the router's objects.")
    endpoints: dict[Tier, list[str]] = Field(
        {}, description="Base URLs per tier; a tier left out uses this stack's own services (edge pools, cloud)."
    )
    image: Image = Field(Image(), description="Image (the runtime image; the router is `voxdeploy serve --router`).")
    resources: Resources = Field(
        Resources(
            requests=ComputeResources(cpu="250m", memory="256Mi"), limits=ComputeResources(cpu="2", memory="1Gi")
        ),
        description="CPU and memory of a router pod.",
    )
    min_replicas: int = Field(2, ge=1, description="Fewest router pods.")
    max_replicas: int = Field(6, ge=1, description="Most router pods (HPA on CPU).")
