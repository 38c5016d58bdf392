#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, run the quality gates (tests/lint.sh), then the
# whole suite, which includes building the wheel and smoke-testing it in a throwaway venv (tests/test_wheel.py).
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests drive for real (kubectl kustomize, promtool, PostgreSQL), installed when missing and allowed to.
missing=()
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v promtool >/dev/null || missing+=(prometheus)
# the voice store's tests start a real PostgreSQL (tests/support/postgres.py); Debian keeps it off PATH
command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test,lint]'
.venv/bin/pip install -q --disable-pip-version-check --no-deps voxcpm==2.0.3
# checkov pins packaging<24 and networkx<2.7 (older than torch's), so it gets its own environment.
[ -x .venv/checkov/bin/checkov ] || { python3 -m venv .venv/checkov && .venv/checkov/bin/pip install -q --disable-pip-version-check checkov==3.3.30; }
bash tests/lint.sh
# loadgroup keeps the wheel smoke tests (one venv) on one worker and spreads everything else.
exec .venv/bin/python -m pytest -n auto --dist loadgroup "$@"
