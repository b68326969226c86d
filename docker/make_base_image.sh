#!/usr/bin/env bash
# Makes the base image `debian:bookworm` locally when the container engine has none and no registry can be
# reached: a minimal Debian bookworm root file system from the same Debian mirror this machine's apt uses
# (debootstrap), with this machine's apt sources and settings and its locally added CA certificates (so that
# apt and pip inside a build reach the package registries exactly as this machine does), imported as
# localhost/debian:bookworm and tagged docker.io/library/debian:bookworm, so that the Dockerfile's unchanged
# `FROM debian:bookworm` resolves without a pull. Usage: docker/make_base_image.sh ENGINE  (podman or docker)
set -euo pipefail
engine="${1:?usage: docker/make_base_image.sh ENGINE (podman or docker)}"
IMAGE=docker.io/library/debian:bookworm

if "$engine" image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "robust-speech: making the base image $IMAGE needs root (debootstrap); run as root or pull $IMAGE" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "robust-speech: debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }

# The Debian mirror of this machine's apt sources (deb822 `.sources` files or one-line `.list` files).
mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}')
[[ -n "$mirror" ]] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
  awk '$1 == "deb" && $2 !~ /^\[/ && $2 ~ /debian\/?$/ {print $2; exit} $1 == "deb" && $2 ~ /^\[/ && $3 ~ /debian\/?$/ {print $3; exit}')
[[ -n "$mirror" ]] || { echo "robust-speech: no Debian mirror found in /etc/apt/sources.list*" >&2; exit 1; }

rootfs=$(mktemp -d /var/tmp/robust-speech-rootfs.XXXXXX)
chmod 755 "$rootfs"  # the image's / (mktemp makes it 0700)
trap 'rm -rf "$rootfs"' EXIT
echo "robust-speech: making the base image $IMAGE with debootstrap from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
  { tail -n 5 "$rootfs.log" >&2; echo "robust-speech: debootstrap failed (log: $rootfs.log)" >&2; exit 1; }
rm -f "$rootfs.log"

# apt as on this machine: its sources and settings; its local CA certificates for HTTPS.
rm -f "$rootfs"/etc/apt/sources.list
for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -f "$file" ]] && cp "$file" "$rootfs$file"
done
cp /etc/apt/apt.conf.d/* "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
mkdir -p "$rootfs/usr/local/share/ca-certificates"
cp -r /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "$rootfs" /bin/bash -c 'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq &&
  apt-get install -y -qq --no-install-recommends ca-certificates && apt-get clean &&
  rm -rf /var/lib/apt/lists/*' >"$rootfs.log" 2>&1 ||
  { tail -n 5 "$rootfs.log" >&2; echo "robust-speech: installing ca-certificates failed (log: $rootfs.log)" >&2; exit 1; }
rm -f "$rootfs.log"

quiet=(); [[ "$engine" == podman ]] && quiet=(--quiet)
tar -C "$rootfs" -c . | "$engine" import "${quiet[@]}" --change 'CMD ["/bin/bash"]' - localhost/debian:bookworm >/dev/null
"$engine" tag localhost/debian:bookworm "$IMAGE"
echo "robust-speech: base image $IMAGE ready"
