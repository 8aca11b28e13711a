#!/usr/bin/env bash
# Builds the JavaScript transform plugins into WebAssembly components:
#   plugins/dist/mask-js.wasm  plugins/dist/filter-js.wasm
#
# Usage: plugins/js/build.sh [--force] [--test]
#   --force  rebuild even when the outputs are up to date
#   --test   afterwards, test lib/sluice.js in Node (test/helper.mjs) and run
#            test/vectors.json over the built components (no host needed)
# Engine: SLUICE_JS_ENGINE=quickjs (default: componentize-qjs, ~1.6 MB components)
#         or SLUICE_JS_ENGINE=starlingmonkey (ComponentizeJS / SpiderMonkey, ~12 MB).
# Needs node >= 20 and npm; the tools come from npm at the versions in package-lock.json.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wit="$root/wit"
dist="$root/plugins/dist"
engine="${SLUICE_JS_ENGINE:-quickjs}"
force=0
test=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --test) test=1 ;;
    *) echo "usage: $0 [--force] [--test]" >&2; exit 2 ;;
  esac
done
case "$engine" in
  quickjs | starlingmonkey) ;;
  *) echo "SLUICE_JS_ENGINE must be quickjs or starlingmonkey, not '$engine'" >&2; exit 2 ;;
esac

cd "$here"

# Tools: reinstall when node_modules is missing or older than the lock file.
if [[ ! -x node_modules/.bin/jco || ! -f node_modules/.package-lock.json \
      || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "installing JS tools (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
bin="$here/node_modules/.bin"

mkdir -p "$dist" .build

# Only the WIT world's own interfaces may be imported.
source "$root/plugins/tools/check-imports.sh"

built=()
for plugin in mask filter; do
  out="$dist/$plugin-js.wasm"
  stamp=".build/$plugin.engine"
  if [[ $force == 0 && -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$engine" \
        && -z "$(find src lib "$wit" package-lock.json build.sh -newer "$out" -print -quit)" ]]; then
    echo "up to date: $out"
    built+=("$out")
    continue
  fi
  echo "building $out ($engine)"
  tmp="$out.tmp.$$"
  start=$SECONDS
  if [[ $engine == quickjs ]]; then
    # --sync: no component-model async ABI; --stub-wasi: no WASI imports.
    "$bin/componentize-qjs" --wit "$wit" --world transform --js "src/$plugin.js" \
      --module-root "$here" --sync --stub-wasi --output "$tmp" >/dev/null
  else
    # -d ...: disable every WASI feature so that no WASI import remains.
    "$bin/componentize-js" --wit "$wit" --world-name transform \
      --disable stdio random clocks http fetch-event --out "$tmp" "src/$plugin.js" >/dev/null
  fi
  check_imports "$bin/jco" "$tmp" "$wit" || { rm -f "$tmp"; exit 1; }
  mv -f "$tmp" "$out" # atomic: a watching host never sees a half-written file
  echo "$engine" >"$stamp"
  echo "  $(stat -c %s "$out") bytes in $((SECONDS - start)) s"
  built+=("$out")
done

if [[ $test == 1 ]]; then
  node test/helper.mjs
  node --experimental-wasm-extended-const test/conformance.mjs "${built[@]}"
fi
