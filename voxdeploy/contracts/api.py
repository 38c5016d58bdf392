"""The HTTP surface every runtime and the router serve, and the headers they add or read.

The builders point probes and scrapes at these paths, the load tests post to them, and the servers
route them: one spelling for all.
"""

from __future__ import annotations

API_PREFIX = "/v1"
"""Every path of the public API starts here (OpenAI's layout); a route in from outside exposes this prefix only, so
/metrics, /health and /ready stay inside the cluster."""
SPEECH_PATH = f"{API_PREFIX}/audio/speech"
"""OpenAI's speech endpoint (also vLLM-Omni's and llama-tts-server's)."""
MODELS_PATH = f"{API_PREFIX}/models"
VOICES_PATH = f"{API_PREFIX}/audio/voices"
"""The voice library (OpenAI's custom voices, vLLM-Omni's uploaded voices); one voice at VOICES_PATH/{id}."""
HEALTH_PATH = "/health"
"""Liveness: the process answers."""
READY_PATH = "/ready"
"""Readiness: the engine is loaded (a router: some tier is reachable)."""
METRICS_PATH = "/metrics"
"""Prometheus text format."""
OPENAPI_PATH = "/openapi.json"

API_KEY_ENV = "VOXDEPLOY_API_KEY"
"""The environment variable holding the API key a client of ours sends (`Authorization: Bearer`): how `voxdeploy
loadtest` hands it to Locust and how the batch Job's pods get it from a Secret, never on a command line, where any
user of the machine (or of the pod spec) could read it."""

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
REQUEST_ID_HEADER = "X-Request-Id"
"""Request and response header: one request's id, the client's if it sent a usable one, else made up; returned on
every response, forwarded to the engine and by the router to the tiers, and in every log line of the request."""
CALLER_HEADER = "X-Voxdeploy-Caller"
"""Request header from the router to a tier: the name of the key the caller presented (never the key), trusted only
with a key the tier lists among its forwarders (auth.forwarders)."""
SAMPLE_RATE_HEADER = "X-Sample-Rate"
"""Response header of every speech answer: the rate of its audio in Hz (raw pcm carries it nowhere else)."""
