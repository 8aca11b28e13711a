# Sourced by the JavaScript, Python and Go build scripts (plugins/*/build.sh).
#
#   check_imports JCO WASM WIT_DIR
#
# Refuses a built transform component that imports anything beyond its WIT
# world's own interfaces (sluice:plugin/log and /types, at the version in
# WIT_DIR/types.wit), and prints what it imports. JCO is the jco executable,
# used to read the component's world; without it the check is skipped, saying so.

check_imports() {
  local jco="$1" wasm="$2" wit="$3" version imports bad
  if [[ ! -x "$jco" ]]; then
    echo "  (imports not checked: jco is not installed at $jco; plugins/js/build.sh installs it)"
    return 0
  fi
  version="$(sed -n 's/^package sluice:plugin@\(.*\);/\1/p' "$wit/types.wit")"
  imports="$("$jco" wit "$wasm" | sed -n 's/^ *import \([^;]*\);.*/\1/p')"
  bad="$(grep -Ev "^sluice:plugin/(log|types)@${version//./\\.}\$" <<<"$imports" || true)"
  if [[ -n "$bad" ]]; then
    echo "error: $wasm imports more than its WIT world:" >&2
    echo "$bad" >&2
    return 1
  fi
  echo "  imports: $(tr '\n' ' ' <<<"$imports")"
}
