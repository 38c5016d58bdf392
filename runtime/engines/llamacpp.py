"""OpenBMB llama.cpp-omni's `llama-tts-server` (VoxCPM2 on ggml: CPU, CUDA, Metal, Vulkan) behind the runtime.

The child is started, health-checked and restarted by ProxiedEngine; this module only absorbs the
server's dialect and faults, as read in and measured on a 2026-08 snapshot of `tc-mb/llama.cpp-omni`
(tools/server/server-voxcpm2.cpp; the test stand-in under tests/ mimics them):

- One generation at a time. Two overlapping requests race on one runtime (500s, wrong-length
  audio, or an abort), so `max_concurrency = 1` keeps the server's admission queue in front, and an
  asyncio.Lock serializes the upstream calls themselves. A request that is cancelled (client gone,
  504) while upstream is generating does not release the lock until upstream has answered: its
  upstream call is shielded and left to finish, because the server keeps generating after the
  connection closes and the next request would overlap it.
- No streaming: `/v1/audio/speech/stream` sends a WAV header and then the process aborts, every
  time. `stream()` instead synthesizes sentence by sentence (one whole-response upstream request
  each) and yields each sentence's audio when it arrives; the joins are crossfaded.
- `wav` is requested and decoded (the server's `pcm` is raw float32, not OpenAI's 16-bit).
- Every upstream error is HTTP 500 (JSON `{"error": ...}` or an empty body). The request is
  validated here before it is sent, so a 500 means the engine broke: EngineFailed (502) with the
  upstream message. A dropped connection or refused connect (abort, crash) marks the child dead
  (503 + Retry-After) while the supervisor restarts it.

Request translation (a Synthesis -> the server's JSON):

- `model` is always "voxcpm", the only id the server knows; `ProcessEngine.model` is the runtime's
  public model name (/v1/models), not the child's.
- `instructions` (voice design) become a parenthesised description at the start of the text,
  `(A deep, calm voice)Hello`, repeated on every sentence so the voice does not change mid-answer.
  A description already typed at the start of `input` is carried to every sentence the same way;
  giving both, or an instruction containing parentheses (it would end the description early), is
  refused (400, param `instructions`).
- `reference.wav_bytes` -> `reference_audio` (base64 WAV). `seed`, `cfg_value`,
  `inference_timesteps` are forwarded; `extra_params` may carry the server's `max_steps` (int >= 1)
  and `temperature` (> 0); any other extra parameter is refused naming it.
- Decisions on what the server cannot do (refused with 400 naming the field rather than ignored):
  * `ref_text`: the server clones from `reference_audio` alone (VoxCPM2's reference mode); the
    transcript-guided prompt mode (`--prompt-wav/--prompt-text`) exists only in `voxcpm2-cli`.
    Dropping the transcript would silently give a different kind of clone, so a reference with a
    transcript is refused; send `ref_audio` without `ref_text`.
  * `normalize=true`, `denoise=true`: no such options upstream. False or unset is what the server
    does anyway, so those pass.
  * `speed != 1`, `task_type`: not upstream, so they are `unsupported_fields` and the server refuses them.
- `max_new_tokens` becomes the server's `max_steps` (one step is one 160 ms patch) unless
  `extra_params.max_steps` is given.
- Accepted but not forwarded: `voice` (VoxCPM2 has no named voices and the server ignores it;
  OpenAI clients must send one), `language` (VoxCPM2 takes no language input; it reads the text).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator

import httpx
import numpy as np

from voxdeploy.contracts.runtime import ProcessEngine
from voxdeploy.runtime.audio import AudioDecodeError, Crossfader, decode_audio
from voxdeploy.runtime.engines.base import EngineFailed, EngineRejected, Synthesis
from voxdeploy.runtime.engines.proxied import ProxiedEngine
from voxdeploy.runtime.text import leading_voice_design, split_sentences

UPSTREAM_MODEL = "voxcpm"
JOIN_FADE_SECONDS = 0.012
"""Crossfade between consecutive sentences of one request (the runtime's default crossfade)."""

_EXTRA_PARAMS = {"max_steps", "temperature"}


def _check_extra(name: str, value: object) -> object:
    if name == "max_steps":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise EngineRejected(
                f"extra_params.max_steps must be an integer >= 1 (160 ms of audio each), got {value!r}",
                "extra_params.max_steps",
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise EngineRejected(
            f"extra_params.temperature must be a number > 0, got {value!r}", "extra_params.temperature"
        )
    return float(value)


class LlamaCppEngine(ProxiedEngine):
    name = "llamacpp"
    unsupported_fields = frozenset({"speed", "task_type"})
    max_concurrency = 1

    def __init__(self, settings: ProcessEngine, request_timeout: float) -> None:
        super().__init__(settings, request_timeout)
        self._upstream = asyncio.Lock()

    # -- translation (pure) ------------------------------------------------------------------

    def check(self, synthesis: Synthesis) -> None:
        """Refuse, before anything is sent or queued upstream, what llama-tts-server cannot honour."""
        for flag in ("normalize", "denoise"):
            if getattr(synthesis, flag):
                raise EngineRejected(
                    f"{flag} is not supported by the {self.name} engine (llama-tts-server has "
                    f"no such option); omit it or set it to false",
                    flag,
                )
        if synthesis.reference is not None and synthesis.reference.transcript:
            raise EngineRejected(
                f"ref_text is not supported by the {self.name} engine: llama-tts-server clones "
                "from the reference audio alone; send ref_audio without ref_text",
                "ref_text",
            )
        unknown = sorted(set(synthesis.extra_params) - _EXTRA_PARAMS)
        if unknown:
            raise EngineRejected(
                f"extra_params.{unknown[0]} is not a {self.name} parameter; it takes "
                f"{', '.join(sorted(_EXTRA_PARAMS))}",
                f"extra_params.{unknown[0]}",
            )
        for name, value in synthesis.extra_params.items():
            _check_extra(name, value)
        self.voice_design(synthesis)

    def voice_design(self, synthesis: Synthesis) -> tuple[str | None, str]:
        """(description or None, text without it): from `instructions` or a `(...)` typed at the input's start."""
        instructions = (synthesis.instructions or "").strip()
        typed = leading_voice_design(synthesis.text)
        if instructions:
            if "(" in instructions or ")" in instructions:
                raise EngineRejected(
                    "instructions must not contain parentheses: llama-tts-server reads the voice "
                    "description up to the first ')'",
                    "instructions",
                )
            if typed is not None:
                raise EngineRejected(
                    "input already starts with a (voice description); give it either there or "
                    "in instructions, not both",
                    "instructions",
                )
            return instructions, synthesis.text
        if typed is not None:
            description, rest = typed
            if not rest.strip():
                raise EngineRejected("input is only a (voice description); add the text to speak after it", "input")
            return description, rest
        return None, synthesis.text

    def sentences(self, synthesis: Synthesis) -> list[str]:
        """The upstream `input` of each request for this synthesis, voice description prefixed to each."""
        description, text = self.voice_design(synthesis)
        pieces = split_sentences(text) or [" ".join(text.split())]
        prefix = f"({description})" if description else ""
        return [prefix + piece for piece in pieces if piece]

    def request_body(self, synthesis: Synthesis) -> dict[str, object]:
        """The server's JSON for `synthesis.text` as one request (no splitting, no design parsing)."""
        body: dict[str, object] = {"model": UPSTREAM_MODEL, "input": synthesis.text, "response_format": "wav"}
        optional = {
            "seed": synthesis.seed,
            "cfg_value": synthesis.cfg_value,
            "inference_timesteps": synthesis.inference_timesteps,
            "max_steps": synthesis.max_new_tokens,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        body.update({name: _check_extra(name, value) for name, value in synthesis.extra_params.items()})
        if synthesis.reference is not None:
            body["reference_audio"] = base64.b64encode(synthesis.reference.wav_bytes).decode("ascii")
        return body

    def requests(self, synthesis: Synthesis) -> list[dict[str, object]]:
        """All upstream requests for one synthesis, validated: one per sentence."""
        self.check(synthesis)
        return [
            self.request_body(dataclasses.replace(synthesis, text=text, instructions=None))
            for text in self.sentences(synthesis)
        ]

    def decode(self, data: bytes) -> np.ndarray:
        """Float32 samples of the server's WAV; anything else is the engine failing."""
        try:
            samples, rate = decode_audio(data)
        except AudioDecodeError as err:
            raise EngineFailed(f"{self.name} returned unusable audio: {err}") from None
        if rate != self.sample_rate:
            raise EngineFailed(f"{self.name} returned {rate} Hz audio; {self.sample_rate} Hz was expected")
        return samples

    # -- talking to the child ----------------------------------------------------------------

    async def audio(self, response: httpx.Response) -> AsyncIterator[np.ndarray]:
        """A whole WAV response as one chunk (used only if ProxiedEngine.stream is called directly)."""
        yield self.decode(await response.aread())

    async def serialized(self, body: dict[str, object]) -> bytes:
        """One upstream request, never overlapping another; a cancelled caller leaves it to finish."""
        await self._upstream.acquire()  # cancellable while waiting: nothing has been sent yet
        call = asyncio.ensure_future(self.post(body))

        def finished(task: asyncio.Future[bytes]) -> None:
            self._upstream.release()
            if not task.cancelled():
                task.exception()  # retrieved, so an abandoned call's error is not logged as unhandled

        call.add_done_callback(finished)
        return await asyncio.shield(call)

    async def stream(self, synthesis: Synthesis) -> AsyncIterator[np.ndarray]:
        bodies = self.requests(synthesis)
        fader = Crossfader(round(JOIN_FADE_SECONDS * self.sample_rate))
        for body in bodies:
            out = fader.push(self.decode(await self.serialized(body)), new_segment=True)
            if out.size:
                yield out
        rest = fader.flush()
        if rest.size:
            yield rest
