#!/usr/bin/env python3
"""Real-time factor of the ``voxcpm`` package on a random-weight VoxCPM2 checkpoint.

Why: the real weights cannot be downloaded here, but compute does not depend on
weight values. This writes a random checkpoint of the real dimensions
(``--size full``, ~2.29 B parameters) or a tiny one (``--size tiny``, for CPU
smoke runs), loads it through voxcpm's real loader
(``voxcpm.VoxCPM(path, zipenhancer_model_path=None, enable_denoiser=False,
optimize=..., device=...)``) and times ``generate()`` (or
``generate_streaming()``) for a fixed number of decode patches, so every run
produces the same amount of audio (0.16 s per patch at 48 kHz).

Reported per run and as the median: wall seconds, audio seconds,
RTF = wall / audio (below 1 is faster than real time), peak RSS, and on CUDA
``torch.cuda.max_memory_allocated``; also the load time. Printed as a table,
then one JSON line (the last line of stdout).

The checkpoint is written in a child process so that the writer's memory does
not count towards the peak RSS of loading and generating.

Examples::

    python benchmarks/voxcpm_rtf.py --size tiny --device cpu
    python benchmarks/voxcpm_rtf.py --size full --device cuda --dtype bfloat16 --steps 50 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from voxdeploy.contracts.model import VOXCPM2_SAMPLE_RATE
from voxdeploy.runtime.engines.voxcpm_import import SAMPLES_PER_PATCH, import_voxcpm

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
"""Put on the writer child's sys.path: the checkpoint writer is test support (tests/support/voxcpm_checkpoint.py)."""

# voxcpm draws a tqdm bar per generation on stderr; it costs time and clutters logs. tqdm reads this when
# it is first imported, which is inside import_voxcpm() (voxcpm_import itself imports neither).
os.environ.setdefault("TQDM_DISABLE", "1")

_WORDS = [
    *("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven", "bright"),
    *("stars", "shine", "above", "quiet", "rivers", "and", "distant", "mountains", "under", "a", "cold"),
    *("winter", "sky"),
]


def make_text(chars: int) -> str:
    """Deterministic English-like text of about ``chars`` characters.

    The random checkpoint's tokenizer is one token per character, so this is
    also the prefill length in tokens (the real tokenizer packs ~4 chars/token).
    """
    words: list[str] = []
    i = 0
    while len(" ".join(words)) < chars:
        words.append(_WORDS[i % len(_WORDS)])
        i += 1
    return (" ".join(words)[: max(chars, 1)].rstrip() or "a") + "."


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    kb = _proc_status_kb("VmRSS")
    return None if kb is None else kb / 1024


def peak_rss_mb() -> float:
    kb = _proc_status_kb("VmHWM")
    if kb is None:  # not Linux: ru_maxrss is KB on Linux, bytes on macOS
        ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return ru / (1024 * 1024) if sys.platform == "darwin" else ru / 1024
    return kb / 1024


def write_checkpoint_subprocess(path: pathlib.Path, size: str, seed: int, dtype: str) -> float:
    """Write the checkpoint in a child process; return its wall seconds."""
    code = (
        "import sys, pathlib; sys.path.insert(0, sys.argv[1]);"
        "from tests.support.voxcpm_checkpoint import write_random_checkpoint;"
        "write_random_checkpoint(pathlib.Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), dtype=sys.argv[5])"
    )
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code, str(REPO_ROOT), str(path), size, str(seed), dtype],
        check=True,
        stdout=sys.stderr,
    )
    return time.perf_counter() - t0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--size", choices=["tiny", "full"], default="tiny")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default=None,
        help="runtime dtype written to config.json (default: float32 on cpu, bfloat16 on cuda)",
    )
    p.add_argument("--steps", type=int, default=25, help="decode patches per run (0.16 s of audio each)")
    p.add_argument("--text-chars", type=int, default=100, help="length of the input text (= prefill tokens)")
    p.add_argument("--text", default=None, help="input text (overrides --text-chars)")
    p.add_argument("--timesteps", type=int, default=10, help="inference_timesteps (CFM solver steps)")
    p.add_argument("--cfg", type=float, default=2.0, help="cfg_value")
    p.add_argument("--repeats", type=int, default=3, help="timed runs")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    p.add_argument("--stream", action="store_true", help="time generate_streaming() and record first-chunk latency")
    p.add_argument("--optimize", action="store_true", help="voxcpm's torch.compile (CUDA + triton only)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", type=pathlib.Path, default=None, help="use/keep this directory (written if empty)")
    p.add_argument("--json-out", type=pathlib.Path, default=None, help="also write the JSON result here")
    args = p.parse_args(argv)
    if args.dtype is None:
        args.dtype = "float32" if args.device == "cpu" else "bfloat16"
    if args.steps < 1 or args.repeats < 1:
        p.error("--steps and --repeats must be >= 1")
    return args


def run_once(model: Any, text: str, args: argparse.Namespace, cuda: bool, torch: Any) -> dict[str, Any]:
    import numpy as np

    kwargs: dict[str, Any] = {
        "cfg_value": args.cfg,
        "inference_timesteps": args.timesteps,
        "min_len": args.steps,
        "max_len": args.steps,
        "normalize": False,
        "denoise": False,
        "retry_badcase": False,
        "retry_badcase_ratio_threshold": 1e9,  # lift voxcpm's text-length cap on max_len
    }
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    first_chunk_s = None
    chunks = 0
    t0 = time.perf_counter()
    if args.stream:
        kwargs.pop("retry_badcase")  # streaming turns it off itself, with a warning
        parts = []
        for chunk in model.generate_streaming(text, **kwargs):
            if first_chunk_s is None:
                first_chunk_s = time.perf_counter() - t0
            parts.append(chunk)
            chunks += 1
        wav = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    else:
        wav = model.generate(text, **kwargs)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    sr = model.tts_model.sample_rate
    audio_s = wav.shape[0] / sr
    finite = bool(np.isfinite(wav).all())
    rec: dict[str, Any] = {
        "wall_s": wall,
        "audio_s": audio_s,
        "rtf": wall / audio_s if audio_s else float("inf"),
        "samples": int(wav.shape[0]),
        "dtype": str(wav.dtype),
        "ndim": int(wav.ndim),
        "finite": finite,
        "peak_abs": float(np.abs(wav).max()) if wav.size and finite else None,
        "rms": float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size and finite else None,
        "peak_rss_mb": peak_rss_mb(),
    }
    if args.stream:
        rec["chunks"] = chunks
        rec["first_chunk_s"] = first_chunk_s
    if cuda:
        rec["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return rec


def check(rec: dict[str, Any], args: argparse.Namespace, sr: int) -> list[str]:
    problems = []
    want = args.steps * SAMPLES_PER_PATCH
    if sr != VOXCPM2_SAMPLE_RATE:
        problems.append(f"sample rate {sr} != {VOXCPM2_SAMPLE_RATE}")
    if rec["samples"] != want:
        problems.append(f"{rec['samples']} samples, expected {want}")
    if rec["dtype"] != "float32" or rec["ndim"] != 1:
        problems.append(f"output is {rec['ndim']}-D {rec['dtype']}, expected 1-D float32")
    if not rec["finite"]:
        problems.append("output has NaN/inf")
    elif not rec["rms"]:
        problems.append("output is silent")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    text = args.text if args.text is not None else make_text(args.text_chars)

    tmp = None
    ckpt = args.checkpoint
    if ckpt is None:
        tmp = tempfile.TemporaryDirectory(prefix="voxcpm-rand-")
        ckpt = pathlib.Path(tmp.name)
    write_s = None
    if not (ckpt / "config.json").exists():
        write_s = write_checkpoint_subprocess(ckpt, args.size, args.seed, args.dtype)
    ckpt_mb = sum(f.stat().st_size for f in ckpt.iterdir() if f.is_file()) / 2**20

    t0 = time.perf_counter()
    import torch

    voxcpm = import_voxcpm()
    import_s = time.perf_counter() - t0
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()

    t0 = time.perf_counter()
    model = voxcpm.VoxCPM(
        str(ckpt),
        zipenhancer_model_path=None,
        enable_denoiser=False,
        optimize=args.optimize,
        device=args.device,
    )
    if cuda:
        torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    load_peak_rss = peak_rss_mb()
    load_cuda_mb = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
    n_params = sum(p.numel() for p in model.tts_model.parameters())
    sr = int(model.tts_model.sample_rate)

    for _ in range(args.warmup):
        run_once(model, text, args, cuda, torch)
    runs = [run_once(model, text, args, cuda, torch) for _ in range(args.repeats)]
    problems = sorted({p for r in runs for p in check(r, args, sr)})

    def med(key: str) -> float | None:
        vals = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    result: dict[str, Any] = {
        "bench": "voxcpm_rtf",
        "voxcpm": getattr(voxcpm, "__version__", None) or _dist_version("voxcpm"),
        "torch": torch.__version__,
        "transformers": _dist_version("transformers"),
        "size": args.size,
        "device": args.device,
        "device_name": torch.cuda.get_device_name(args.device) if cuda else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "dtype": args.dtype,
        "params": n_params,
        "checkpoint_mb": round(ckpt_mb, 1),
        "mode": "stream" if args.stream else "generate",
        "steps": args.steps,
        "text_chars": len(text),
        "inference_timesteps": args.timesteps,
        "cfg_value": args.cfg,
        "sample_rate": sr,
        "write_s": write_s,
        "import_s": import_s,
        "load_s": load_s,
        "load_peak_rss_mb": load_peak_rss,
        "load_cuda_max_allocated_mb": load_cuda_mb,
        "warmup": args.warmup,
        "runs": runs,
        "median": {k: med(k) for k in ("wall_s", "audio_s", "rtf", "first_chunk_s", "cuda_max_allocated_mb")},
        "peak_rss_mb": peak_rss_mb(),
        "ok": not problems,
        "problems": problems,
    }

    _print_table(result)
    line = json.dumps(result, separators=(",", ":"))
    if args.json_out:
        args.json_out.write_text(line + "\n", encoding="utf-8")
    print(line, flush=True)
    if tmp is not None:
        tmp.cleanup()
    return 0 if not problems else 1


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _fmt(v: Any, nd: int = 3) -> str:
    return "-" if v is None else f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _print_table(r: dict[str, Any]) -> None:
    print(
        f"voxcpm {r['voxcpm']} | torch {r['torch']} | {r['size']} ({r['params'] / 1e6:.1f} M params, "
        f"{r['checkpoint_mb']} MB) | {r['device']} {r['device_name']} | {r['dtype']} | threads {r['threads']}"
    )
    print(
        f"mode {r['mode']} | steps {r['steps']} | text {r['text_chars']} chars | "
        f"timesteps {r['inference_timesteps']} | cfg {r['cfg_value']} | {r['sample_rate']} Hz"
    )
    print(
        f"write {_fmt(r['write_s'], 2)} s | import {_fmt(r['import_s'], 2)} s | load {_fmt(r['load_s'], 2)} s | "
        f"peak RSS after load {_fmt(r['load_peak_rss_mb'], 0)} MB | "
        f"CUDA max allocated after load {_fmt(r['load_cuda_max_allocated_mb'], 0)} MB"
    )
    cols = ["run", "wall_s", "audio_s", "rtf", "first_chunk_s", "peak_rss_mb", "cuda_max_allocated_mb", "peak_abs"]
    rows = [[str(i + 1)] + [_fmt(run.get(c)) for c in cols[1:]] for i, run in enumerate(r["runs"])]
    rows.append(["median"] + [_fmt(r["median"].get(c)) for c in cols[1:]])
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
    for row in rows:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    print("OK" if r["ok"] else "PROBLEMS: " + "; ".join(r["problems"]))


if __name__ == "__main__":
    raise SystemExit(main())
