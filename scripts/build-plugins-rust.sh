#!/usr/bin/env bash
# Builds the Rust guest plugins (the plugins/ workspace) in release for
# wasm32-wasip2 and copies each component to plugins/dist/<name>.wasm, then
# checks every component's world and prints sizes and imports.
#
# Incremental: with nothing changed, cargo does no work and no dist file is
# rewritten (a file is replaced, atomically, only when its bytes change, so a
# host watching plugins/dist/ for hot reload sees no spurious event).
#
# Usage: scripts/build-plugins-rust.sh [--no-check]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
plugins="$root/plugins"
dist="$plugins/dist"
target_dir="$plugins/target"
wasm_target="wasm32-wasip2"

# dist name = cargo package name; the component is target/<triple>/release/<lib>.wasm
# with '-' turned into '_'.
components=(
  orders file-tail mask filter set-key passthrough
  version-tag reject-every tamper block-on-open wrong-world stale-types contract-0-1-0
  hostile-loop hostile-memory hostile-recursion hostile-file hostile-socket hostile-output hostile-sleep
  hostile-shared-span trap-on-open acking-source
  bench-list-passthrough bench-list-mask bench-entries
)

# The contract version, as wit/ declares it.
version="$(sed -n 's/^package sluice:plugin@\(.*\);/\1/p' "$root/wit/types.wit")"

# The export each component must have at its top level.
expected_export() {
  case "$1" in
    orders | file-tail | acking-source) echo "sluice:plugin/source-plugin@$version" ;;
    # Built against the previous contract on purpose (its own wit/).
    contract-0-1-0) echo "sluice:plugin/transformer@0.1.0" ;;
    wrong-world) echo "greet" ;;
    bench-list-*) echo "process" ;;
    bench-entries) echo "echo-words" ;;
    *) echo "sluice:plugin/transformer@$version" ;;
  esac
}

check=1
for arg in "$@"; do
  case "$arg" in
    --no-check) check=0 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

started=$SECONDS

# The plugins workspace has its own .cargo/config.toml, found from the working
# directory: build from inside it. An outer CARGO_TARGET_DIR / CARGO_BUILD_TARGET
# (the host's) must not redirect this build.
cd "$plugins"
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET

if ! rustup target add "$wasm_target" >/dev/null 2>&1; then
  if ! rustup target list --installed 2>/dev/null | grep -qx "$wasm_target"; then
    echo "error: the Rust target $wasm_target is not installed and 'rustup target add $wasm_target' failed" >&2
    exit 1
  fi
fi

echo "==> cargo build --release --target $wasm_target (plugins/)"
cargo build --release --locked --workspace --target "$wasm_target" --target-dir "$target_dir"

mkdir -p "$dist"
for name in "${components[@]}"; do
  built="$target_dir/$wasm_target/release/${name//-/_}.wasm"
  if [[ ! -f "$built" ]]; then
    echo "error: $built was not produced (is '$name' a workspace member with crate-type cdylib?)" >&2
    exit 1
  fi
  out="$dist/$name.wasm"
  if ! cmp -s "$built" "$out"; then
    cp "$built" "$out.tmp.$$"
    mv -f "$out.tmp.$$" "$out"
  fi
done

# Two builds of version-tag that differ in bytes and in the tag they stamp
# (VERSION_TAG is read at compile time), for the hot-reload tests. Separate
# target dirs keep both builds incremental.
for tag in v1 v2; do
  VERSION_TAG="$tag" cargo build --release --locked -p version-tag --target "$wasm_target" \
    --target-dir "$target_dir/version-tag-$tag"
  built="$target_dir/version-tag-$tag/$wasm_target/release/version_tag.wasm"
  out="$dist/version-tag-$tag.wasm"
  if ! cmp -s "$built" "$out"; then
    cp "$built" "$out.tmp.$$"
    mv -f "$out.tmp.$$" "$out"
  fi
done

if [[ $check -eq 1 ]]; then
  echo "==> checking components (plugins/tools/component-check)"
  host_triple="$(rustc -vV | sed -n 's/^host: //p')"
  checker_dir="$plugins/tools/component-check"
  (cd "$checker_dir" && cargo build --release --locked --quiet --target "$host_triple" --target-dir "$target_dir")
  args=()
  for name in "${components[@]}"; do
    args+=("$dist/$name.wasm=$(expected_export "$name")")
  done
  "$target_dir/$host_triple/release/component-check" "${args[@]}"
fi

echo "==> plugins/dist"
for name in "${components[@]}"; do
  printf '  %-24s %9d bytes\n' "$name.wasm" "$(stat -c %s "$dist/$name.wasm")"
done
echo "==> built in $((SECONDS - started)) s"
