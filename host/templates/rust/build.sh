#!/usr/bin/env bash
# Builds dist/{{name}}.wasm, a WebAssembly component for Sluice ({{kind}} world of
# sluice:plugin@0.2.0), from this Rust crate.
#
#   ./build.sh          build (incremental)
#   ./build.sh --test   build, then run the sample test: sluice test … --expect
#
# Needs Rust (rustup) with the wasm32-wasip2 target (added here when missing).
# Tests need the `sluice` binary: on PATH, in $SLUICE, or the one that created
# this project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

test=0
for arg in "$@"; do
  case "$arg" in
    --test) test=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "adding the Rust target wasm32-wasip2 (rustup)"
  rustup target add wasm32-wasip2
fi

cargo build --release --target wasm32-wasip2
mkdir -p dist
# Replace atomically: a running `sluice run` hot-reloads the file and must never
# see it half-written.
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{ident}}.wasm" "dist/{{name}}.wasm.tmp"
mv -f "dist/{{name}}.wasm.tmp" "dist/{{name}}.wasm"
echo "built dist/{{name}}.wasm ($(wc -c <"dist/{{name}}.wasm") bytes)"

if [[ $test == 1 ]]; then
  sluice="${SLUICE:-$(command -v sluice || echo '{{sluice}}')}"
  if [[ ! -x "$sluice" ]]; then
    echo "error: no sluice binary: put it on PATH or set SLUICE=/path/to/sluice" >&2
    exit 1
  fi
  "$sluice" test {{test_args}}
fi
