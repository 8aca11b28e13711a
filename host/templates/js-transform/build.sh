#!/usr/bin/env bash
# Builds dist/{{name}}.wasm, a WebAssembly component for Sluice (transform world of
# sluice:plugin@0.2.0), from src/{{name}}.js with componentize-qjs (QuickJS; it ships
# with jco, pinned in package.json / package-lock.json).
#
#   ./build.sh          build (skipped when dist/{{name}}.wasm is newer than its inputs)
#   ./build.sh --test   build, then run the sample test: sluice test … --expect
#
# Needs node >= 20 and npm. Tests need the `sluice` binary: on PATH, in $SLUICE,
# or the one that created this project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

test=0
for arg in "$@"; do
  case "$arg" in
    --test) test=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

# Tools: (re)install when node_modules is missing or older than the lock file.
if [[ ! -x node_modules/.bin/componentize-qjs || ! -f node_modules/.package-lock.json \
      || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "installing the component tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
bin=node_modules/.bin

out="dist/{{name}}.wasm"
mkdir -p dist
if [[ -f "$out" && -z "$(find src lib wit package-lock.json build.sh -newer "$out" -print -quit)" ]]; then
  echo "up to date: $out"
else
  tmp="$out.tmp"
  # --sync: no component-model async ABI; --stub-wasi: no WASI imports at all.
  "$bin/componentize-qjs" --wit wit --world transform --js "src/{{name}}.js" \
    --module-root . --sync --stub-wasi --output "$tmp" >/dev/null
  # The component may import only its world's own interfaces.
  imports="$("$bin/jco" wit "$tmp" | sed -n 's/^ *import \([^;]*\);.*/\1/p')"
  # The contract version, as wit/ declares it.
  version="$(sed -n 's/^package sluice:plugin@\(.*\);/\1/p' wit/types.wit)"
  if grep -Evq "^sluice:plugin/(log|types)@${version//./\\.}\$" <<<"$imports"; then
    echo "error: $out would import more than its WIT world:" >&2
    echo "$imports" >&2
    rm -f "$tmp"
    exit 1
  fi
  mv -f "$tmp" "$out" # atomic: a running `sluice run` hot-reloads it
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
