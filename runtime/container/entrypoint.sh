#!/bin/sh
# Container entrypoint of both images: refuse to run as root, then become `voxdeploy "$@"` (exec, so
# SIGTERM from the kubelet reaches the runtime, which drains in-flight requests and exits 0).
set -eu

if [ "$(id -u)" = "0" ] && [ "${VOXDEPLOY_ALLOW_ROOT:-}" != "1" ]; then
  echo "voxdeploy: refusing to run as root (uid 0); run as uid 10001 (the image's user) or set VOXDEPLOY_ALLOW_ROOT=1" >&2
  exit 1
fi

if [ "$#" -eq 0 ]; then
  set -- serve --config /etc/voxdeploy/runtime.yaml
fi

exec "${VOXDEPLOY_BIN:-voxdeploy}" "$@"
