#!/usr/bin/env bash
# Quality gates: ruff (lint and format), mypy with the pydantic plugin, and the import-linter layering contracts.
# mypy and import-linter see the package as the wheel lays it out (infra/, runtime/, loadtests/, templates/ and
# stacks/ under `voxdeploy`): a tree of symlinks under build/ maps the repository's layout onto that namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tree=$repo/build/lint-tree
rm -rf "$tree" && mkdir -p "$tree/voxdeploy"
for entry in voxdeploy/*; do ln -s "$repo/$entry" "$tree/voxdeploy/"; done
for part in infra runtime loadtests templates stacks; do ln -s "$repo/$part" "$tree/voxdeploy/$part"; done

.venv/bin/ruff check .
.venv/bin/ruff format --check .
(cd "$tree" && "$repo/.venv/bin/lint-imports" --no-cache "$repo/pyproject.toml")
(cd "$tree" && "$repo/.venv/bin/mypy" --config-file "$repo/pyproject.toml" -p voxdeploy)
