#!/usr/bin/env bash
# Gets podman ready to build and run the image on a Debian machine without a registry of base images
# (what `make test-container` needs): installs podman and its helpers with apt-get when missing (as root),
# writes a containers.conf for machines whose kernel or limits need it, and makes the base image
# debian:bookworm locally when the engine has none (docker/make_base_image.sh).
# Prints the containers.conf path; use it as `CONTAINERS_CONF=$(bash docker/podman_setup.sh) podman ...`.
set -euo pipefail
cd "$(dirname "$0")/.."

# iptables: netavark sets up the bridge network of `podman run` with it ("netavark: No such file or directory"
# without it); --no-install-recommends leaves it out.
packages=(podman buildah netavark aardvark-dns iptables uidmap fuse-overlayfs slirp4netns runc debootstrap)
missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "robust-speech: podman is not installed; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "robust-speech: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# runc, because crun cannot create containers under a hybrid cgroup v1 hierarchy; and default ulimits
# within this machine's hard limits (podman's own defaults ask for more than a container may raise to,
# and `podman run` then fails with "setrlimit ... operation not permitted").
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
[[ "$nofile" =~ ^[0-9]+$ ]] || nofile=1048576
[[ "$nproc" =~ ^[0-9]+$ ]] && (( nproc < 32768 )) || nproc=32768
conf="${TMPDIR:-/tmp}/robust-speech-containers.conf"
cat >"$conf" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
CONF
CONTAINERS_CONF="$conf" bash docker/make_base_image.sh podman >&2
echo "$conf"
