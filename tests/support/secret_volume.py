"""A Kubernetes Secret volume on disk, written as the kubelet writes it (pkg/volume/util/atomic_writer.go).

The data lives in a timestamped directory; `..data` is a symlink to it and each key is a symlink `name ->
..data/name`. An update writes a new timestamped directory, points a temporary link at it and renames that over
`..data` (one atomic rename), then adds links for new keys, removes those of deleted keys and the old directory.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from pathlib import Path

_versions = itertools.count(1)


def write_secret_volume(volume: Path, data: Mapping[str, str]) -> None:
    """Make `volume` hold exactly `data` (key name -> value), swapping it in atomically as the kubelet does."""
    volume.mkdir(parents=True, exist_ok=True)
    current = volume / "..data"
    old = os.readlink(current) if current.is_symlink() else None
    version = f"..2026_12_03_{next(_versions):06d}"
    (volume / version).mkdir()
    for name, value in data.items():
        (volume / version / name).write_text(value)
    staged = volume / "..data_tmp"
    staged.symlink_to(version)
    os.replace(staged, current)
    for name in data:
        link = volume / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    for entry in volume.iterdir():
        if not entry.name.startswith(".") and entry.name not in data:
            entry.unlink()
    if old is not None:
        for file in (volume / old).iterdir():
            file.unlink()
        (volume / old).rmdir()
