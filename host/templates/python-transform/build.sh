#!/usr/bin/env bash
# Builds dist/{{name}}.wasm, a WebAssembly component for Sluice (transform world of
# sluice:plugin@0.2.0), from src/{{ident}}_transform.py with componentize-py (pinned in
# requirements.txt, installed into .venv).
#
#   ./build.sh          build (skipped when dist/{{name}}.wasm is newer than its inputs)
#   ./build.sh --test   build, then run the sample test: sluice test … --expect
#
# Needs python3 >= 3.10 (only to run componentize-py; the component carries its own
# CPython). Tests need the `sluice` binary: on PATH, in $SLUICE, or the one that
# created this project.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

test=0
for arg in "$@"; do
  case "$arg" in
    --test) test=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

# Tools: (re)install when the venv is missing or older than requirements.txt.
if [[ ! -x .venv/bin/componentize-py || requirements.txt -nt .venv/.installed ]]; then
  echo "installing componentize-py into .venv (pip)"
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  touch .venv/.installed
fi

out="dist/{{name}}.wasm"
mkdir -p dist
if [[ -f "$out" && -z "$(find src sluice_plugin wit requirements.txt build.sh -newer "$out" \
      ! -path '*/__pycache__*' -print -quit)" ]]; then
  echo "up to date: $out"
else
  tmp="$out.tmp"
  # --stub-wasi: WASI imports become trapping stubs, so the component imports only
  # its WIT world (no clock, files or sockets; `random` is seeded at build time).
  .venv/bin/componentize-py -d wit -w transform componentize --stub-wasi \
    -p src -p . {{ident}}_transform -o "$tmp" >/dev/null
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
