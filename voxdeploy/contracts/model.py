"""Facts about the model every tier serves, in one place."""

from __future__ import annotations

MODEL_ID = "openbmb/VoxCPM2"
"""The Hugging Face id of VoxCPM2: the default checkpoint and the `model` clients send."""

VOXCPM2_SAMPLE_RATE = 48000
"""VoxCPM2's AudioVAE decodes to 48 kHz; every engine serving it returns that rate."""

VLLM_OMNI_PORT = 8091
"""Loopback port vLLM-Omni listens on inside a cloud pod (the runtime proxies to it)."""

LLAMACPP_PORT = 8092
"""Loopback port llama-tts-server listens on inside an edge pod or beside `voxdeploy serve --engine llamacpp`."""

VOXCPM2_STEP_SECONDS = 0.16
"""Audio one VoxCPM2 decoding step makes (one patch): a streamed chunk, llama-tts-server's `max_steps` unit."""
