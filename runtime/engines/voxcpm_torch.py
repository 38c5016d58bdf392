"""VoxCPM2 in-process through the `voxcpm` package: the single-instance PyTorch baseline.

Loads a local checkpoint directory through voxcpm's own loader (config.json, tokenizer, AudioVAE and
model weights), with the denoiser and torch.compile off: the denoiser downloads a ModelScope model at
start, which a pod without egress cannot do. One generation at a time: the model keeps per-call state
and PyTorch would only interleave two calls, not batch them (batching is what vLLM-Omni is for).

LoRA voices: with `settings.lora` the model is built with voxcpm's LoRA layers of that shape (LoRA exists in
voxcpm only if asked for at construction), and a request's adapter is copied into them before it generates.
Adapters are read from disk once and kept (checked, on the model's device) in a small LRU cache, so a swap is a
few in-place copies, never a reload of the base model. A request without one runs with LoRA disabled (voxcpm
scales the LoRA term by 0), which is the base model's output. Swaps happen in the generation thread, and only one
generation runs at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import tempfile
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from voxdeploy.contracts.model import VOXCPM2_SAMPLE_RATE
from voxdeploy.contracts.runtime import VoxcpmEngine, VoxcpmLora
from voxdeploy.runtime.engines.base import (
    Engine,
    EngineError,
    EngineFailed,
    EngineRejected,
    EngineUnavailable,
    Synthesis,
)

log = logging.getLogger("voxdeploy.voxcpm")

_DONE = object()

ADAPTERS_CACHED = 8
"""LoRA adapters kept in memory (on the model's device); the least recently used one is dropped beyond."""

ADAPTER_FILES = ("lora_weights.safetensors", "lora_weights.ckpt")
"""What an adapter directory holds, in the order voxcpm 2.0.3 looks (VoxCPM2Model.load_lora_weights); beside it,
voxcpm's training writes lora_config.json ({"base_model": ..., "lora_config": {...}})."""

_COMPILED = "._orig_mod."
"""What torch.compile inserts into the parameter names of a compiled submodule (voxcpm maps it away the same way)."""


class AdapterUnfit(Exception):
    """An adapter that cannot be served on this engine; the message says why."""


class LoraAdapters:
    """The model's LoRA parameters, and the adapters read for them: checked once, cached, copied in on a swap."""

    def __init__(self, tts_model: Any, settings: VoxcpmLora, size: int = ADAPTERS_CACHED) -> None:
        self.tts_model = tts_model
        self.settings = settings
        self.params: dict[str, Any] = {
            name.replace(_COMPILED, "."): param for name, param in tts_model.named_parameters() if "lora_" in name
        }
        self.size = size
        self.cache: OrderedDict[tuple[str, int, int], dict[str, Any]] = OrderedDict()
        self.current: tuple[str, int, int] | None = None  # the adapter in the layers now
        self.enabled = True  # voxcpm builds the layers enabled (with lora_B zero)
        self.disable()

    def disable(self) -> None:
        if self.enabled:
            self.tts_model.set_lora_enabled(False)
            self.enabled = False

    def activate(self, path: str) -> None:
        """Make the adapter at `path` the one the model runs with; AdapterUnfit if it cannot be."""
        import torch

        weights = self.weights_file(Path(path))
        try:
            stat = weights.stat()
        except OSError as err:  # gone since it was found
            raise AdapterUnfit(f"{weights.name} cannot be read: {err.strerror}") from None
        key = (str(weights), stat.st_mtime_ns, stat.st_size)  # a file replaced on disk is read again
        state = self.cache.get(key)
        if state is None:
            state = self.read(weights)
            self.cache[key] = state
            while len(self.cache) > self.size:
                dropped, _ = self.cache.popitem(last=False)
                if dropped == self.current:
                    self.current = None
        self.cache.move_to_end(key)
        if key != self.current:
            self.current = None  # until every layer holds it
            with torch.no_grad():
                for name, param in self.params.items():
                    tensor = state.get(name)
                    if tensor is None:
                        param.zero_()  # a layer the adapter was not trained on adds nothing
                    else:
                        param.copy_(tensor)
            self.current = key
        if not self.enabled:
            self.tts_model.set_lora_enabled(True)
            self.enabled = True

    @staticmethod
    def weights_file(path: Path) -> Path:
        if path.is_dir():
            for name in ADAPTER_FILES:
                if (path / name).is_file():
                    return path / name
            raise AdapterUnfit(f"its directory has no {' or '.join(ADAPTER_FILES)}")
        if not path.exists():
            raise AdapterUnfit("it does not exist")
        if path.suffix not in (".safetensors", ".ckpt", ".pth"):
            raise AdapterUnfit("it is neither a directory of LoRA weights nor a .safetensors, .ckpt or .pth file")
        return path

    def read(self, weights: Path) -> dict[str, Any]:
        """The adapter's tensors by parameter name, checked against the layers, on their device and in their dtype."""
        import torch

        self.check_config(weights.parent / "lora_config.json")
        try:
            if weights.suffix == ".safetensors":
                from safetensors.torch import load_file

                loaded: Any = load_file(str(weights), device="cpu")
            else:
                loaded = torch.load(weights, map_location="cpu", weights_only=True)
                loaded = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else loaded
        except Exception as err:  # whatever the reader says about a broken file
            raise AdapterUnfit(f"{weights.name} cannot be read: {type(err).__name__}: {err}") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
            raise AdapterUnfit(f"{weights.name} holds no tensors by name")
        state: dict[str, Any] = {}
        for name, tensor in loaded.items():
            if "lora_" not in name:
                continue  # voxcpm's own loader ignores what is no LoRA tensor as well
            param = self.params.get(name.replace(_COMPILED, "."))
            if param is None:
                raise AdapterUnfit(
                    f"it has LoRA weights for {name}, a layer this engine has no LoRA on ({self.shape()})"
                )
            if tuple(tensor.shape) != tuple(param.shape):
                raise AdapterUnfit(
                    f"its {name} is {'x'.join(map(str, tensor.shape))} where this engine's is "
                    f"{'x'.join(map(str, param.shape))} ({self.shape()})"
                )
            state[name.replace(_COMPILED, ".")] = tensor.to(device=param.device, dtype=param.dtype)
        if not state:
            raise AdapterUnfit(f"{weights.name} holds no LoRA weights (no lora_A/lora_B tensors)")
        return state

    def check_config(self, path: Path) -> None:
        """Rank and alpha from voxcpm's lora_config.json, where there is one: alpha shows in no tensor's shape."""
        if not path.is_file():
            return
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            trained = document.get("lora_config", document)
            ours = {"r": self.settings.r, "alpha": self.settings.alpha}
            differ = {key: trained[key] for key in ours if key in trained and trained[key] != ours[key]}
        except (OSError, ValueError, AttributeError, TypeError) as err:
            raise AdapterUnfit(f"its lora_config.json cannot be read: {err}") from None
        if differ:
            said = ", ".join(f"{key}={value}" for key, value in differ.items())
            raise AdapterUnfit(f"it was trained with {said} (lora_config.json); this engine has {self.shape()}")

    def shape(self) -> str:
        parts = [name for name in ("lm", "dit", "proj") if getattr(self.settings, f"enable_{name}")]
        return f"engine settings lora: r={self.settings.r}, alpha={self.settings.alpha}, on {'+'.join(parts)}"


class VoxcpmInProcessEngine(Engine):
    name = "voxcpm"
    max_concurrency = 1
    unsupported_fields = frozenset({"speed", "task_type", "language"})

    def __init__(self, settings: VoxcpmEngine) -> None:
        self.settings = settings
        self.serves_lora = settings.lora is not None
        self.sample_rate = VOXCPM2_SAMPLE_RATE
        self._model: Any = None
        self._adapters: LoraAdapters | None = None
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
                lora_config=self._lora_config(),
            )
            adapters = None if self.settings.lora is None else LoraAdapters(model.tts_model, self.settings.lora)
        except Exception as err:  # a broken checkpoint must show in /ready and the logs, not kill the server
            self._load_error = f"loading {path} failed: {type(err).__name__}: {err}"
            log.exception("voxcpm load failed")
            return
        self.sample_rate = int(model.tts_model.sample_rate)
        self._adapters = adapters
        self._model = model
        log.info("voxcpm checkpoint %s loaded on %s", path, self.settings.device)

    def _lora_config(self) -> Any:
        if self.settings.lora is None:
            return None
        # VoxCPM2's own LoRAConfig (its projections include fusion_concat_proj, which voxcpm.model.voxcpm's lacks);
        # dropout stays voxcpm's 0.0, and the target layer names its defaults, which is what its training uses.
        from voxcpm.model.voxcpm2 import LoRAConfig

        lora = self.settings.lora
        return LoRAConfig(
            r=lora.r,
            alpha=lora.alpha,
            enable_lm=lora.enable_lm,
            enable_dit=lora.enable_dit,
            enable_proj=lora.enable_proj,
        )

    async def stop(self) -> None:
        if self._loading is not None:
            with contextlib.suppress(Exception):
                await self._loading
        self._model = None
        self._adapters = None

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

    def _use_adapter(self, synthesis: Synthesis) -> None:
        """Swap the request's LoRA adapter in (or LoRA off); in the generation thread, before it generates."""
        if self._adapters is None:
            return
        if synthesis.lora is None:
            self._adapters.disable()
            return
        try:
            self._adapters.activate(synthesis.lora)
        except AdapterUnfit as err:
            log.warning("voice %r: LoRA adapter %s refused: %s", synthesis.voice, synthesis.lora, err)
            raise EngineRejected(
                f"voice {synthesis.voice!r}: its LoRA adapter cannot be served: {err}", "voice"
            ) from None

    def _generate(
        self, synthesis: Synthesis, kwargs: dict[str, object], cancelled: threading.Event
    ) -> Iterator[np.ndarray]:
        import torch

        self._use_adapter(synthesis)
        seed = synthesis.seed
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
        if synthesis.lora is not None and self._adapters is None:
            raise EngineRejected(
                f"voice {synthesis.voice!r} is a LoRA voice; this voxcpm engine has no LoRA layers (engine settings "
                "lora unset)",
                "voice",
            )
        with tempfile.TemporaryDirectory(prefix="voxdeploy-ref-") as tmp:
            reference_path = None
            if synthesis.reference is not None:
                reference_path = str(Path(tmp) / "reference.wav")
                Path(reference_path).write_bytes(synthesis.reference.wav_bytes)
            kwargs = self._arguments(synthesis, reference_path)
            async for chunk in self._in_thread(synthesis, kwargs):
                yield chunk

    async def _in_thread(self, synthesis: Synthesis, kwargs: dict[str, object]) -> AsyncIterator[np.ndarray]:
        """Run the blocking generator in a worker thread and hand its chunks to the event loop as they come."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def work() -> None:
            try:
                for chunk in self._generate(synthesis, kwargs, cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
            except Exception as err:  # reported to the request, never lost in the thread
                loop.call_soon_threadsafe(queue.put_nowait, err)

        worker = threading.Thread(target=work, name="voxcpm-generate", daemon=True)
        worker.start()
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, EngineError):
                    raise item
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
