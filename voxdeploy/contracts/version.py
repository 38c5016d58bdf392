"""The distribution's version, read from its installed metadata (pyproject.toml is the one place it is typed)."""

from __future__ import annotations

from importlib.metadata import version

VERSION = version("voxdeploy")
