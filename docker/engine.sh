#!/usr/bin/env bash
# Prints the container engine to use: $ENGINE when set, else docker when its daemon answers, else podman.
set -euo pipefail
if [[ -n "${ENGINE:-}" ]]; then
  case "$ENGINE" in
    docker|podman) command -v "$ENGINE" >/dev/null || { echo "robust-speech: ENGINE=$ENGINE is not installed" >&2; exit 1; } ;;
    *) echo "robust-speech: ENGINE must be docker or podman, not '$ENGINE'" >&2; exit 2 ;;
  esac
  echo "$ENGINE"
elif command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; then
  echo docker
elif command -v podman >/dev/null; then
  echo podman
else
  echo "robust-speech: no container engine: install docker or podman (Debian: apt-get install -y podman)" >&2
  exit 1
fi
