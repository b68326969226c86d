#!/usr/bin/env bash
# Installs the Debian packages robust-speech needs, when missing: espeak-ng speaks the synthetic corpus,
# the fortunes packages hold the real sentences it speaks, and the compiler, cmake, Boost and zlib headers
# let build_ngram.py compile KenLM's lmplz once (no package ships it); libatomic1 is what pedalboard's native
# module links against without bundling it; chromium and chromium-driver run the
# browser test of a model folder's web demo (selenium drives them headless). As root it runs apt-get; otherwise it prints
# the exact command and fails, because the tests and the demo cannot run without them.
set -euo pipefail

packages=(espeak-ng fortunes fortunes-de fortunes-es fortunes-it fortunes-pl fortunes-cs
          cmake g++ make libboost-program-options-dev libboost-system-dev libboost-thread-dev
          libboost-test-dev zlib1g-dev libatomic1 chromium chromium-driver)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "robust-speech: not a Debian-like system; install espeak-ng and the fortunes sentence files" \
       "(${packages[*]}) with your package manager." >&2
  command -v espeak-ng >/dev/null 2>&1 && exit 0 || exit 1
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -eq 0 ]]; then
  echo "robust-speech: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "robust-speech: missing Debian packages; run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
