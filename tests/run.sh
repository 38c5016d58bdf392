#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then run the whole suite.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests drive for real (kubectl kustomize), installed when missing and allowed to.
if ! command -v kubectl >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
fi

if ! command -v promtool >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/pip install -q --disable-pip-version-check --no-deps voxcpm==2.0.3
# checkov pins packaging<24 and networkx<2.7 (older than torch's), so it gets its own environment.
[ -x .venv/checkov/bin/checkov ] || { python3 -m venv .venv/checkov && .venv/checkov/bin/pip install -q --disable-pip-version-check checkov==3.3.30; }
exec .venv/bin/python -m pytest -n auto "$@"
