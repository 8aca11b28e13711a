#!/usr/bin/env bash
# Builds dist/{{name}}.wasm, a WebAssembly component for Sluice (transform world of
# sluice:plugin@0.2.0), from this Go module:
#   1. GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared  → a core module
#   2. node tools/componentize.mjs  → `component embed` + `component new` with the
#      wasm-tools that ship in jco (npm, pinned in package-lock.json), adapting the Go
#      runtime's WASI preview1 calls with tools/wasi_stub.wat, so the component
#      imports nothing but its WIT world.
#
#   ./build.sh          build (skipped when dist/{{name}}.wasm is newer than its inputs)
#   ./build.sh --test   build, then run the sample test: sluice test … --expect
#
# Needs Go >= 1.25 and node >= 20 with npm. Tests need the `sluice` binary: on
# PATH, in $SLUICE, or the one that created this project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

test=0
for arg in "$@"; do
  case "$arg" in
    --test) test=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

go_minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
if [[ -z "$go_minor" || "$go_minor" -lt 25 ]]; then
  echo "error: Go >= 1.25 is needed (found $(go env GOVERSION))" >&2
  exit 1
fi

# Tools: (re)install when node_modules is missing or older than the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "installing the component tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

out="dist/{{name}}.wasm"
mkdir -p dist .build
if [[ -f "$out" && -z "$(find . -name '*.go' -newer "$out" -not -path './node_modules/*' -print -quit)" \
      && -z "$(find go.mod go.sum wit tools package-lock.json build.sh -newer "$out" -print -quit)" ]]; then
  echo "up to date: $out"
else
  # -checklinkname=0: the bindings' runtime package (go.bytecodealliance.org/pkg)
  # links to runtime.sbrk, which Go >= 1.23 refuses by default.
  GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -ldflags=-checklinkname=0 \
    -o .build/core.wasm .
  node tools/componentize.mjs wit transform .build/core.wasm "$out.tmp" >/dev/null
  imports="$(node_modules/.bin/jco wit "$out.tmp" | sed -n 's/^ *import \([^;]*\);.*/\1/p')"
  # The contract version, as wit/ declares it.
  version="$(sed -n 's/^package sluice:plugin@\(.*\);/\1/p' wit/types.wit)"
  if grep -Evq "^sluice:plugin/(log|types)@${version//./\\.}\$" <<<"$imports"; then
    echo "error: $out would import more than its WIT world:" >&2
    echo "$imports" >&2
    rm -f "$out.tmp"
    exit 1
  fi
  mv -f "$out.tmp" "$out" # atomic: a running `sluice run` hot-reloads it
  echo "built $out ($(wc -c <"$out") bytes)"
fi

if [[ $test == 1 ]]; then
  sluice="${SLUICE:-$(command -v sluice || echo '{{sluice}}')}"
  if [[ ! -x "$sluice" ]]; then
    echo "error: no sluice binary: put it on PATH or set SLUICE=/path/to/sluice" >&2
    exit 1
  fi
  "$sluice" test {{test_args}}
fi
