"""Random-weight VoxCPM2 checkpoints that the real ``voxcpm`` package loads offline.

Why this exists
---------------
The real VoxCPM2 weights (``openbmb/VoxCPM2``) live on a model hub that this
project's machines and CI cannot reach. To still exercise the *real* loading and
inference code of the ``voxcpm`` PyPI package (2.0.3) -- ``voxcpm.VoxCPM(path)``,
``generate()``, ``generate_streaming()`` -- we write a complete checkpoint
directory ourselves, with weights drawn at random by the package's own model
classes, so every tensor name and shape is exactly what the loader expects:

* ``size="tiny"``: a few layers and small hidden sizes (~17 M parameters). It
  builds in a couple of seconds and synthesises faster than real time on a
  laptop CPU, so tests and CI can drive the real code path end to end.
* ``size="full"``: VoxCPM2's real dimensions (~2.29 B parameters). The audio is
  noise, but the amount of compute per generated patch is that of the real
  model, so load time, memory and real-time factor measured on a GPU with it
  stand in for the released model's.

The same directory also feeds the llama.cpp-omni converter
(``convert_voxcpm2_to_gguf.py``): the tiny size keeps 16 attention heads and 2
KV heads, which that runtime hard-codes.

Forcing the output length
-------------------------
With purely random weights the stop head is a coin toss per seed: it may end
generation after a few patches, or never (then voxcpm runs to its length cap,
flags a "badcase" and regenerates up to 3 times -- 36 s for one short sentence
on a CPU). So the stop head is made deterministic by default (``stop=``):

* ``"always"`` (default): ``stop_proj`` is zeroed with bias 1 and ``stop_head``
  votes "stop", so every generation ends as soon as voxcpm allows, i.e. after
  ``min_len + 2`` patches (voxcpm's default ``min_len=2`` gives 4 patches,
  0.64 s). Short and predictable for serving tests.
* ``"never"``: ``stop_head`` is zeroed, its two logits tie and ``argmax``
  picks "continue": generation always runs to the length cap below.
* ``"random"``: keep the random init, as a released-but-untrained model would.

Whatever the checkpoint, an exact length of ``n`` patches (one patch =
``patch_size`` 4 VAE frames = 4 * 1920 samples = 0.16 s at 48 kHz) comes from
calling ``VoxCPM.generate`` / ``generate_streaming`` with ``min_len=n,
max_len=n, retry_badcase=False, retry_badcase_ratio_threshold=1e9``. Why all of
these: the decode loop honours the stop head only once ``step > min_len``, so
``min_len >= max_len`` runs exactly ``max_len`` patches; but voxcpm caps
``max_len`` at ``int(len(tokens(text)) * retry_badcase_ratio_threshold + 10)``
(threshold 6.0 by default, so a short text cannot yield long audio), and with
``retry_badcase=True`` (the ``VoxCPM`` default) an output of at least
``len(tokens) * threshold`` patches is discarded and generated again, up to 3
times -- which would triple a measured time. (``generate_streaming`` turns
``retry_badcase`` off itself, with a warning.)

LoRA adapters
-------------
:func:`write_lora_adapter` writes what voxcpm's LoRA fine-tuning saves for a
checkpoint (``lora_weights.safetensors``, the ``lora_A``/``lora_B`` tensors
under voxcpm's own parameter names, and ``lora_config.json``), with random
non-zero values, so both factors change the output: a LoRA voice that sounds
different from the base model, for the engine's adapter swapping.

Importing ``voxcpm``
--------------------
Through ``voxdeploy.runtime.engines.voxcpm_import.import_voxcpm``, as the engine
does: it stands a stub in for a missing or broken torchaudio.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import pathlib
import sys
from collections.abc import Iterator
from typing import Any

from voxdeploy.contracts.model import VOXCPM2_SAMPLE_RATE
from voxdeploy.runtime.engines.voxcpm_import import import_voxcpm

__all__ = [
    "SIZES",
    "STOP_MODES",
    "count_parameters",
    "voxcpm2_config",
    "write_lora_adapter",
    "write_random_checkpoint",
    "write_tokenizer",
]

SIZES = ("tiny", "full")
STOP_MODES = ("always", "never", "random")


# Marker token ids that voxcpm hard-codes (audio_start, audio_end,
# ref_audio_start, ref_audio_end): the vocabulary must have more than 104 ids.
_MARKER_TOKENS = {
    101: "<|audio_start|>",
    102: "<|audio_end|>",
    103: "<|ref_audio_start|>",
    104: "<|ref_audio_end|>",
}

# VoxCPM2's released config (openbmb/VoxCPM2 config.json) as reproduced by
# several independent ports; the rope factors there are per-dimension floats we
# do not have, and they do not change the amount of compute, so they are 1.0.
_FULL: dict[str, Any] = {
    "architecture": "voxcpm2",
    "lm_config": {
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_size": 2048,
        "intermediate_size": 6144,
        "max_position_embeddings": 32768,
        "num_attention_heads": 16,
        "num_hidden_layers": 28,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000,
        "kv_channels": 128,
        "rope_scaling": {
            "type": "longrope",
            "long_factor": None,  # filled with head_dim / 2 ones
            "short_factor": None,
            "original_max_position_embeddings": 32768,
        },
        "vocab_size": 73448,
        "use_mup": False,
        "scale_emb": 12,
        "dim_model_base": 256,
        "scale_depth": 1.4,
    },
    "patch_size": 4,
    "feat_dim": 64,
    "scalar_quantization_latent_dim": 512,
    "scalar_quantization_scale": 9,
    "residual_lm_num_layers": 8,
    "residual_lm_no_rope": True,
    "encoder_config": {"hidden_dim": 1024, "ffn_dim": 4096, "num_heads": 16, "num_layers": 12, "kv_channels": 128},
    "dit_config": {
        "hidden_dim": 1024,
        "ffn_dim": 4096,
        "num_heads": 16,
        "num_layers": 12,
        "kv_channels": 128,
        "dit_mean_mode": False,
        "cfm_config": {"sigma_min": 1e-06, "solver": "euler", "t_scheduler": "log-norm", "inference_cfg_rate": 2.0},
    },
    "audio_vae_config": {
        "encoder_dim": 128,
        "encoder_rates": [2, 5, 8, 8],
        "latent_dim": 64,
        "decoder_dim": 2048,
        "decoder_rates": [8, 6, 5, 2, 2, 2],
        "depthwise": True,
        "sr_bin_boundaries": [20000, 30000, 40000],
        "sample_rate": 16000,
        "out_sample_rate": VOXCPM2_SAMPLE_RATE,
    },
    "max_length": 8192,
    "dtype": "bfloat16",
}

# Same structure, small widths. Kept: patch size, feature/latent dim 64, VAE
# rates (so 16 kHz in, 48 kHz out, 0.16 s per patch), 16 heads / 2 KV heads and
# one head_dim everywhere (one rope factor list serves LM, encoder and DiT).
_TINY_OVERRIDES: dict[str, Any] = {
    "lm_config": {
        "hidden_size": 512,
        "intermediate_size": 1024,
        "num_hidden_layers": 2,
        "kv_channels": 32,
        "vocab_size": None,  # the tokenizer's size
    },
    "scalar_quantization_latent_dim": 64,
    "residual_lm_num_layers": 2,
    "encoder_config": {"hidden_dim": 256, "ffn_dim": 512, "num_layers": 2, "kv_channels": 32},
    "dit_config": {"hidden_dim": 256, "ffn_dim": 512, "num_layers": 2, "kv_channels": 32},
    "audio_vae_config": {"encoder_dim": 16, "decoder_dim": 256},
    "max_length": 4096,
    "dtype": "float32",
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _tokenizer_vocab() -> dict[str, int]:
    """A Llama-style (SentencePiece-BPE, byte fallback) vocabulary, built by hand.

    Why this shape: ``LlamaTokenizerFast`` in transformers 5 rebuilds its backend
    from tokenizer.json's ``vocab``/``merges`` with Llama's fixed pipeline
    (Metaspace ``▁``, BPE with byte fallback), while transformers 4 loads
    tokenizer.json verbatim; a vocabulary of that form tokenises identically
    under both. Printable ASCII is one token per character, anything else falls
    back to ``<0xNN>`` byte tokens, so every input text is encodable.
    """
    vocab: dict[str, int] = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for i in range(3, 101):
        vocab[f"<|reserved_{i}|>"] = i
    for i, tok in _MARKER_TOKENS.items():
        vocab[tok] = i
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    vocab["▁"] = len(vocab)
    for c in range(33, 127):
        vocab[chr(c)] = len(vocab)
    return vocab


def _tokenizer_json(vocab: dict[str, int]) -> dict[str, Any]:
    special = {"<unk>", "<s>", "</s>", *_MARKER_TOKENS.values()}
    added = [
        {
            "id": i,
            "content": tok,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for tok, i in sorted(vocab.items(), key=lambda kv: kv[1])
        if tok in special
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
        "post_processor": None,
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0},
            ],
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<unk>",
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [],
        },
    }


def write_tokenizer(path: pathlib.Path) -> int:
    """Write ``tokenizer.json`` + ``tokenizer_config.json``; return the vocabulary size.

    Built offline from a hand-made vocabulary and checked by round-tripping it
    through the ``tokenizers`` package, so a malformed file fails here rather
    than inside voxcpm's loader.
    """
    from tokenizers import Tokenizer  # validates the JSON we write

    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = _tokenizer_vocab()
    text = json.dumps(_tokenizer_json(vocab), ensure_ascii=False, indent=1)
    Tokenizer.from_str(text)
    (path / "tokenizer.json").write_text(text, encoding="utf-8")
    # No "add_prefix_space" key: transformers 4.x then insists on converting
    # from a SentencePiece model we do not have; 5.x defaults it to True anyway.
    config = {
        "tokenizer_class": "LlamaTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "legacy": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 32768,
    }
    (path / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    return len(vocab)


def voxcpm2_config(size: str = "tiny", dtype: str | None = None, vocab_size: int | None = None) -> dict[str, Any]:
    """Return the ``config.json`` content for a VoxCPM2 checkpoint of ``size``.

    ``dtype`` is the runtime dtype voxcpm will cast the model to (it has no
    other dtype switch): default ``bfloat16`` for ``full`` as released, and
    ``float32`` for ``tiny`` because bf16 matmuls are slow on most CPUs.
    ``vocab_size`` only matters for ``tiny`` (default: the tokenizer's size).
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    cfg = _FULL if size == "full" else _merge(_FULL, _TINY_OVERRIDES)
    cfg = copy.deepcopy(cfg)
    lm = cfg["lm_config"]
    if lm["vocab_size"] is None:
        lm["vocab_size"] = vocab_size if vocab_size is not None else len(_tokenizer_vocab())
    if lm["vocab_size"] <= max(_MARKER_TOKENS):
        raise ValueError("vocab_size must exceed 104: voxcpm hard-codes token ids 101-104")
    head_dim = lm["kv_channels"] or lm["hidden_size"] // lm["num_attention_heads"]
    lm["rope_scaling"]["long_factor"] = [1.0] * (head_dim // 2)
    lm["rope_scaling"]["short_factor"] = [1.0] * (head_dim // 2)
    if dtype is not None:
        cfg["dtype"] = dtype
    return cfg


@contextlib.contextmanager
def _default_dtype(dtype: Any) -> Iterator[None]:
    import torch

    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _build_modules(
    cfg: dict[str, Any], tokenizer_dir: pathlib.Path, device: str = "cpu", lora_config: Any = None
) -> tuple[Any, Any]:
    """Instantiate voxcpm's own ``AudioVAEV2`` and ``VoxCPM2Model`` for ``cfg``.

    The VAE is built in float32 (voxcpm always runs it in float32); the rest is
    built directly in the checkpoint dtype so the full size needs ~5 GB of RAM
    in bfloat16 instead of ~9 GB in float32. ``lora_config`` (voxcpm's
    ``LoRAConfig``) adds its LoRA layers, as ``VoxCPM(lora_config=...)`` does.
    """
    import torch

    import_voxcpm()
    from transformers import LlamaTokenizerFast
    from voxcpm.model.utils import get_dtype
    from voxcpm.model.voxcpm2 import AudioVAEConfigV2, AudioVAEV2, VoxCPM2Model, VoxCPMConfig

    config = VoxCPMConfig.model_validate(cfg)
    with _default_dtype(torch.float32):
        vae = AudioVAEV2(config=AudioVAEConfigV2.model_validate(cfg["audio_vae_config"]))
    tokenizer = LlamaTokenizerFast.from_pretrained(str(tokenizer_dir))
    with _default_dtype(get_dtype(config.dtype)), contextlib.redirect_stdout(sys.stderr):
        model = VoxCPM2Model(config, tokenizer, vae, lora_config, device=device)
    return model, vae


def write_random_checkpoint(
    path: pathlib.Path,
    size: str = "tiny",
    seed: int = 0,
    *,
    dtype: str | None = None,
    stop: str = "always",
) -> pathlib.Path:
    """Write a complete random-weight VoxCPM2 checkpoint directory at ``path``; return it.

    Files: ``config.json`` (``"architecture": "voxcpm2"``), ``tokenizer.json`` +
    ``tokenizer_config.json`` (for ``LlamaTokenizerFast``), ``audiovae.safetensors``
    (float32) and ``model.safetensors`` (in the config dtype, like the release).
    Every tensor comes from voxcpm's own modules with their default init under
    ``torch.manual_seed(seed)``, so names and shapes match what
    ``voxcpm.VoxCPM(path)`` loads -- which matters because voxcpm loads with
    ``strict=False`` and would silently keep random values for a misnamed key.

    ``size``: ``"tiny"`` (~17 M params, seconds on CPU) or ``"full"`` (VoxCPM2's
    real ~2.29 B params; needs ~5 GB RAM in bfloat16 and writes ~4.6 GB).
    ``dtype``: runtime dtype recorded in config.json (see :func:`voxcpm2_config`).
    ``stop``: ``"always"`` (default), ``"never"`` or ``"random"`` -- how the stop
    head behaves (see "Forcing the output length" in the module docstring).
    """
    import torch
    from safetensors.torch import save_file

    if stop not in STOP_MODES:
        raise ValueError(f"stop must be one of {STOP_MODES}, got {stop!r}")
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab_size = write_tokenizer(path)
    cfg = voxcpm2_config(size, dtype=dtype, vocab_size=vocab_size if size == "tiny" else None)
    (path / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")

    torch.manual_seed(seed)
    model, vae = _build_modules(cfg, path)
    with torch.no_grad():
        if stop == "never":
            model.stop_head.weight.zero_()
        elif stop == "always":
            # stop_proj(h) == 1 for every h, so silu(.) is a positive constant
            # and logit[1] ("stop") > logit[0] == 0, in any dtype.
            model.stop_proj.weight.zero_()
            model.stop_proj.bias.fill_(1.0)
            model.stop_head.weight[0].zero_()
            model.stop_head.weight[1].fill_(1.0)

    vae_state = {k: v.detach().contiguous() for k, v in vae.state_dict().items()}
    save_file(vae_state, str(path / "audiovae.safetensors"))
    # Tied/shared storage is not allowed by safetensors; nothing in VoxCPM2 ties
    # weights, but clone defensively only where storages would be shared.
    state: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in model.state_dict().items():
        if key.startswith("audio_vae."):
            continue
        tensor = value.detach()
        ptr = tensor.untyped_storage().data_ptr()
        state[key] = tensor.clone().contiguous() if ptr in seen else tensor.contiguous()
        seen.add(ptr)
    del model, vae
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt", "random_init": "true", "stop": stop})
    for name in ("audiovae.safetensors", "model.safetensors"):
        (path / name).chmod(0o644)  # safetensors writes 0600; containers may run as another user
    return path


def write_lora_adapter(
    path: pathlib.Path,
    checkpoint: pathlib.Path,
    seed: int = 0,
    *,
    r: int = 8,
    alpha: int = 16,
    enable_lm: bool = True,
    enable_dit: bool = True,
    enable_proj: bool = False,
    scale: float = 0.02,
    config_file: bool = True,
) -> pathlib.Path:
    """Write a random LoRA adapter for the checkpoint directory ``checkpoint`` into the directory ``path``; return it.

    The tensor names and shapes are those of ``get_lora_state_dict()`` of voxcpm's
    ``VoxCPM2Model`` built with ``LoRAConfig(r, alpha, enable_lm, enable_dit,
    enable_proj)`` (built on the meta device: no weights are allocated, so any
    size works). Values are Gaussian, seeded by ``seed``: ``lora_A`` with
    standard deviation ``1 / sqrt(in_features)``, ``lora_B`` with ``scale``.
    Files, as voxcpm's training saves them: ``lora_weights.safetensors`` (float32)
    and, unless ``config_file`` is false, ``lora_config.json``
    (``{"base_model": ..., "lora_config": {...}}``).
    """
    import torch
    from safetensors.torch import save_file

    import_voxcpm()
    from voxcpm.model.voxcpm2 import LoRAConfig

    checkpoint = pathlib.Path(checkpoint)
    cfg = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    lora = LoRAConfig(r=r, alpha=alpha, enable_lm=enable_lm, enable_dit=enable_dit, enable_proj=enable_proj)
    with torch.device("meta"):
        model, _vae = _build_modules(cfg, checkpoint, lora_config=lora)
    shapes = {name: tuple(tensor.shape) for name, tensor in model.get_lora_state_dict().items()}
    del model, _vae
    if not shapes:
        raise ValueError("this LoRA configuration puts LoRA on no layer")
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, shape in sorted(shapes.items()):
        std = shape[1] ** -0.5 if name.endswith("lora_A") else scale
        state[name] = (torch.randn(shape, generator=generator, dtype=torch.float32) * std).contiguous()
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path / "lora_weights.safetensors"))
    (path / "lora_weights.safetensors").chmod(0o644)
    if config_file:
        document = {"base_model": str(checkpoint), "lora_config": lora.model_dump()}
        (path / "lora_config.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def count_parameters(size: str = "full") -> dict[str, int]:
    """Count parameters per top-level module of a VoxCPM2 of ``size`` without allocating weights.

    Builds the modules on torch's meta device (only the small KV caches and rope
    tables are real), so it is safe for ``full`` on a machine with little RAM.
    """
    import tempfile

    import torch

    cfg = voxcpm2_config(size)
    with tempfile.TemporaryDirectory() as tmp:
        write_tokenizer(pathlib.Path(tmp))
        with torch.device("meta"):
            model, _vae = _build_modules(cfg, pathlib.Path(tmp))
    counts: dict[str, int] = {}
    for name, param in model.named_parameters():
        top = name.split(".", 1)[0]
        counts[top] = counts.get(top, 0) + param.numel()
    counts["total"] = sum(counts.values())
    return counts


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m tests.support.voxcpm_checkpoint OUT_DIR [--size tiny|full]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", type=pathlib.Path, nargs="?")
    parser.add_argument("--size", choices=SIZES, default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    parser.add_argument("--stop", choices=STOP_MODES, default="always", help="stop-head behaviour")
    parser.add_argument("--count", action="store_true", help="print parameter counts (meta device) and exit")
    args = parser.parse_args(argv)
    if args.count:
        print(json.dumps(count_parameters(args.size)))
        return 0
    if args.out is None:
        parser.error("OUT_DIR is required unless --count")
    write_random_checkpoint(args.out, args.size, args.seed, dtype=args.dtype, stop=args.stop)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
