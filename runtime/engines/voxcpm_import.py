"""Importing the ``voxcpm`` package, and VoxCPM2's decode step, for the in-process engine.

``import voxcpm`` imports ``torchaudio`` at module level (only VoxCPM 1 prompt audio and the ZipEnhancer
denoiser use it; the VoxCPM2 path reads audio with librosa). Use :func:`import_voxcpm`, which installs a
stub when torchaudio is missing or broken (PyPI's torchaudio is a CUDA build that fails to load next to a
CPU torch).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import sys
import types
from typing import Any

__all__ = ["SAMPLES_PER_PATCH", "import_voxcpm"]

#: VoxCPM2 emits one patch of 4 latent frames per decode step; the V2 AudioVAE
#: upsamples each frame by prod(decoder_rates) = 1920 samples at 48 kHz.
SAMPLES_PER_PATCH = 4 * 1920


def import_voxcpm() -> types.ModuleType:
    """Import and return the ``voxcpm`` package, tolerating a missing or broken torchaudio.

    Why: ``voxcpm/model/voxcpm.py`` (VoxCPM 1) does ``import torchaudio`` at
    import time, but nothing on the VoxCPM2 path calls it. Installing
    torchaudio is not always possible (its PyPI wheel is a CUDA build that
    fails next to a CPU torch), so when the real one cannot be imported a stub
    module stands in and raises only if something actually uses it.
    """
    try:
        import torchaudio  # noqa: F401
    except (ImportError, OSError):
        # transformers probes for torchaudio with importlib.util.find_spec (and
        # caches the answer): ask it now, before the stub exists, so it does not
        # take the stub for a real install.
        with contextlib.suppress(ImportError, AttributeError):  # transformers layout changed
            from transformers.utils import import_utils

            import_utils.is_torchaudio_available()
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]

        def _unavailable(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError(
                "torchaudio is not available (stubbed by voxcpm_import.import_voxcpm); "
                "only VoxCPM 1 prompt audio and the ZipEnhancer denoiser need it"
            )

        stub = types.ModuleType("torchaudio")
        stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        stub.__dict__.update(load=_unavailable, save=_unavailable, info=_unavailable, __voxcpm_stub__=True)
        functional = types.ModuleType("torchaudio.functional")
        functional.__dict__.update(resample=_unavailable, loudness=_unavailable, gain=_unavailable)
        stub.functional = functional  # type: ignore[attr-defined]
        sys.modules["torchaudio"] = stub
        sys.modules["torchaudio.functional"] = functional
    import voxcpm

    return voxcpm
