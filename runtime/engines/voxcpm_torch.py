"""VoxCPM2 in-process through the `voxcpm` package: the single-instance PyTorch baseline.

Loads a local checkpoint directory through voxcpm's own loader (config.json, tokenizer, AudioVAE and
model weights), with the denoiser and torch.compile off: the denoiser downloads a ModelScope model at
start, which a pod without egress cannot do. One generation at a time: the model keeps per-call state
and PyTorch would only interleave two calls, not batch them (batching is what vLLM-Omni is for).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from voxdeploy.contracts.model import VOXCPM2_SAMPLE_RATE
from voxdeploy.contracts.runtime import VoxcpmEngine
from voxdeploy.runtime.engines.base import Engine, EngineFailed, EngineRejected, EngineUnavailable, Synthesis

log = logging.getLogger("voxdeploy.voxcpm")

_DONE = object()


class VoxcpmInProcessEngine(Engine):
    name = "voxcpm"
    max_concurrency = 1
    unsupported_fields = frozenset({"speed", "task_type", "language"})

    def __init__(self, settings: VoxcpmEngine) -> None:
        self.settings = settings
        self.sample_rate = VOXCPM2_SAMPLE_RATE
        self._model: Any = None
        self._load_error: str | None = None
        self._loading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loading = asyncio.create_task(asyncio.to_thread(self._load))

    def _load(self) -> None:
        from voxdeploy.runtime.engines.voxcpm_import import import_voxcpm

        path = Path(self.settings.checkpoint)
        if not (path / "config.json").is_file():
            self._load_error = f"{path} is not a VoxCPM checkpoint directory (no config.json)"
            log.error(self._load_error)
            return
        try:
            voxcpm = import_voxcpm()
            model = voxcpm.VoxCPM(
                str(path),
                zipenhancer_model_path=None,
                enable_denoiser=False,
                optimize=self.settings.compile,
                device=self.settings.device,
            )
        except Exception as err:  # a broken checkpoint must show in /ready and the logs, not kill the server
            self._load_error = f"loading {path} failed: {type(err).__name__}: {err}"
            log.exception("voxcpm load failed")
            return
        self.sample_rate = int(model.tts_model.sample_rate)
        self._model = model
        log.info("voxcpm checkpoint %s loaded on %s", path, self.settings.device)

    async def stop(self) -> None:
        if self._loading is not None:
            with contextlib.suppress(Exception):
                await self._loading
        self._model = None

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def problem(self) -> str | None:
        return self._load_error

    def _arguments(self, synthesis: Synthesis, reference_path: str | None) -> dict[str, object]:
        if synthesis.denoise:
            raise EngineRejected(
                "denoise needs VoxCPM's ZipEnhancer denoiser, which this runtime does not load "
                "(it downloads from ModelScope); omit denoise",
                "denoise",
            )
        text = f"({synthesis.instructions}){synthesis.text}" if synthesis.instructions else synthesis.text
        kwargs: dict[str, object] = {"text": text}
        for name in ("cfg_value", "inference_timesteps", "normalize"):
            value = getattr(synthesis, name)
            if value is not None:
                kwargs[name] = value
        if synthesis.max_new_tokens is not None:
            kwargs["max_len"] = synthesis.max_new_tokens  # VoxCPM counts generated patches (0.16 s each)
        if reference_path is not None:
            # With a transcript the reference continues as a prompt (faithful cloning); without, it sets the voice.
            if synthesis.reference is not None and synthesis.reference.transcript:
                kwargs.update(prompt_wav_path=reference_path, prompt_text=synthesis.reference.transcript)
            else:
                kwargs["reference_wav_path"] = reference_path
        return kwargs

    def _generate(
        self, kwargs: dict[str, object], seed: int | None, cancelled: threading.Event
    ) -> Iterator[np.ndarray]:
        import torch

        if seed is not None:
            torch.manual_seed(seed)
        for chunk in self._model.generate_streaming(**kwargs):
            if cancelled.is_set():
                return
            yield np.asarray(chunk, dtype=np.float32).reshape(-1)

    async def stream(self, synthesis: Synthesis) -> AsyncIterator[np.ndarray]:
        if self._model is None:
            reason = self._load_error or "the checkpoint is still loading"
            raise EngineUnavailable(
                f"voxcpm is not ready: {reason}", retry_after=10 if self._load_error is None else 60
            )
        with tempfile.TemporaryDirectory(prefix="voxdeploy-ref-") as tmp:
            reference_path = None
            if synthesis.reference is not None:
                reference_path = str(Path(tmp) / "reference.wav")
                Path(reference_path).write_bytes(synthesis.reference.wav_bytes)
            kwargs = self._arguments(synthesis, reference_path)
            async for chunk in self._in_thread(kwargs, synthesis.seed):
                yield chunk

    async def _in_thread(self, kwargs: dict[str, object], seed: int | None) -> AsyncIterator[np.ndarray]:
        """Run the blocking generator in a worker thread and hand its chunks to the event loop as they come."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def work() -> None:
            try:
                for chunk in self._generate(kwargs, seed, cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
            except Exception as err:  # reported to the request, never lost in the thread
                loop.call_soon_threadsafe(queue.put_nowait, err)

        worker = threading.Thread(target=work, name="voxcpm-generate", daemon=True)
        worker.start()
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, ModuleNotFoundError):
                    raise EngineRejected(
                        f"this runtime image lacks {item.name!r}, needed for that option "
                        "(normalize needs inflect and wetext)",
                        "normalize",
                    )
                if isinstance(item, Exception):
                    raise EngineFailed(f"voxcpm generation failed: {type(item).__name__}: {item}")
                yield item  # type: ignore[misc]
        finally:
            cancelled.set()
            await asyncio.to_thread(worker.join)
