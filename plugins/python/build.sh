#!/usr/bin/env bash
# Builds the Python transform plugins into WebAssembly components:
#   plugins/dist/mask-py.wasm  plugins/dist/filter-py.wasm
#
# Usage: plugins/python/build.sh [--force] [--test]
#   --force  rebuild even when the outputs are up to date
#   --test   afterwards, run the helper's native unit tests (test/, needs python3 >= 3.11)
#            and plugins/js/test/vectors.json over the built components
#            (needs the JS tools: plugins/js/build.sh installs them)
# Needs python3 >= 3.10; componentize-py (pinned in requirements.txt) goes into .venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wit="$root/wit"
dist="$root/plugins/dist"
force=0
test=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --test) test=1 ;;
    *) echo "usage: $0 [--force] [--test]" >&2; exit 2 ;;
  esac
done

cd "$here"

# Tools: (re)install when the venv is missing or older than requirements.txt.
if [[ ! -x .venv/bin/componentize-py || requirements.txt -nt .venv/.installed ]]; then
  echo "installing Python tools into .venv (pip)"
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  touch .venv/.installed
fi
cpy="$here/.venv/bin/componentize-py"

mkdir -p "$dist" .build

# Bindings (wit_world package) for editors and type checkers; componentize-py also
# generates them itself while building.
if [[ ! -d .build/bindings || -n "$(find "$wit" requirements.txt -newer .build/bindings -print -quit)" ]]; then
  rm -rf .build/bindings
  "$cpy" -d "$wit" -w transform bindings .build/bindings >/dev/null
fi

# Only the WIT world's own interfaces may be imported (checked with jco from plugins/js).
source "$root/plugins/tools/check-imports.sh"
jco="$root/plugins/js/node_modules/.bin/jco"

built=()
for plugin in mask filter; do
  out="$dist/$plugin-py.wasm"
  if [[ $force == 0 && -f "$out" \
        && -z "$(find src sluice_plugin "$wit" requirements.txt build.sh -newer "$out" -name '*' ! -path '*/__pycache__*' -print -quit)" ]]; then
    echo "up to date: $out"
    built+=("$out")
    continue
  fi
  echo "building $out"
  tmp="$out.tmp.$$"
  start=$SECONDS
  # --stub-wasi: WASI imports become trapping stubs, so the component imports only
  # its WIT world (note: the random seed is fixed at build time).
  "$cpy" -d "$wit" -w transform componentize --stub-wasi \
    -p src -p . -p .build/bindings "${plugin}_plugin" -o "$tmp" >/dev/null
  check_imports "$jco" "$tmp" "$wit" || { rm -f "$tmp"; exit 1; }
  mv -f "$tmp" "$out" # atomic: a watching host never sees a half-written file
  echo "  $(stat -c %s "$out") bytes in $((SECONDS - start)) s"
  built+=("$out")
done

if [[ $test == 1 ]]; then
  # The generated bindings use typing.Self (Python 3.11).
  if .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PYTHONPATH=.build/bindings:. .venv/bin/python -m unittest discover -s test -q
  else
    echo "  (native helper tests skipped: they need python3 >= 3.11)"
  fi
  (cd "$root/plugins/js" && node --experimental-wasm-extended-const test/conformance.mjs "${built[@]}")
fi
