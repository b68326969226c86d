#!/usr/bin/env bash
# Builds the robust-speech image (what `make image` runs), with docker when its daemon answers, else podman.
#   TORCH_VARIANT=cuda|cpu  which PyTorch build (default cuda)
#   IMAGE=name:tag          the tag (default robust-speech:latest, or robust-speech:cpu for the CPU build)
#   TORCH_WHEELS=dir        for the CPU build: a folder holding torch-VERSION+cpu-*.whl to use instead of the
#                           PyTorch CPU index (copied into docker/wheels/, inside the build context)
#   ENGINE=docker|podman    force an engine
set -euo pipefail
cd "$(dirname "$0")/.."
variant="${TORCH_VARIANT:-cuda}"
case "$variant" in
  cuda) image="${IMAGE:-robust-speech:latest}" ;;
  cpu) image="${IMAGE:-robust-speech:cpu}" ;;
  *) echo "robust-speech: TORCH_VARIANT must be cuda or cpu, not '$variant'" >&2; exit 2 ;;
esac
torch_version=$(sed -n 's/^ARG TORCH_VERSION=//p' docker/Dockerfile)
engine=$(bash docker/engine.sh)

rm -f docker/wheels/*.whl
if [[ "$variant" == cpu && -n "${TORCH_WHEELS:-}" ]]; then
  wheels=("$TORCH_WHEELS"/torch-"$torch_version"+cpu-*.whl)
  if [[ -f "${wheels[0]}" ]]; then
    cp -l "${wheels[@]}" docker/wheels/ 2>/dev/null || cp "${wheels[@]}" docker/wheels/
  else
    echo "robust-speech: no torch-$torch_version+cpu wheel in $TORCH_WHEELS; using the PyTorch CPU index" >&2
  fi
fi

# podman: the build's RUN steps use the host's network (apt and pip reach the registries as the host does).
network=()
[[ "$engine" == podman ]] && network=(--network host)
previous=$("$engine" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
started=$(date +%s)
echo "robust-speech: building $image (torch $torch_version, $variant) with $engine"
status=0
"$engine" build "${network[@]}" -f docker/Dockerfile --build-arg TORCH_VARIANT="$variant" -t "$image" . || status=$?
rm -f docker/wheels/*.whl
[[ $status -eq 0 ]] || { echo "robust-speech: $engine build of $image failed (exit $status)" >&2; exit "$status"; }
# The image this tag named before, when nothing else names it now (its layers that the new one shares stay).
current=$("$engine" image inspect --format '{{.Id}}' "$image")
[[ -n "$previous" && "$previous" != "$current" ]] && { "$engine" rmi "$previous" >/dev/null 2>&1 || true; }
size=$("$engine" image inspect --format '{{.Size}}' "$image")
echo "robust-speech: built $image in $(( $(date +%s) - started )) s; size $(( size / 1000000 )) MB"
