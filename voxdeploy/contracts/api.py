"""The HTTP surface every runtime and the router serve, and the headers they add or read.

The builders point probes and scrapes at these paths, the load tests post to them, and the servers
route them: one spelling for all.
"""

from __future__ import annotations

SPEECH_PATH = "/v1/audio/speech"
"""OpenAI's speech endpoint (also vLLM-Omni's and llama-tts-server's)."""
MODELS_PATH = "/v1/models"
HEALTH_PATH = "/health"
"""Liveness: the process answers."""
READY_PATH = "/ready"
"""Readiness: the engine is loaded (a router: some tier is reachable)."""
METRICS_PATH = "/metrics"
"""Prometheus text format."""
OPENAPI_PATH = "/openapi.json"

ENGINE_HEADER = "X-Voxdeploy-Engine"
"""Response header: the engine kind that synthesized the audio."""
TIER_HEADER = "X-Voxdeploy-Tier"
"""Response header of the router: the tier that served the request."""
FALLBACKS_HEADER = "X-Voxdeploy-Fallbacks"
"""Response header of the router: how many tiers were passed over before one served."""
LATENCY_BUDGET_HEADER = "X-Latency-Budget-Ms"
"""Request header: the client's latency budget; a tight one sends short text to the edge."""
QUALITY_HEADER = "X-Quality"
"""Request header: `high` sends a request to the cloud tier."""
