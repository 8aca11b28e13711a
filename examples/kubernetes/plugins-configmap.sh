#!/usr/bin/env bash
# Prints the `sluice-plugins` ConfigMap (the compiled components, base64 in
# binaryData) for examples/kubernetes/sluice-sidecar.yaml:
#
#   make plugins-rust
#   bash examples/kubernetes/plugins-configmap.sh | kubectl apply -f -
#
# (`kubectl create configmap sluice-plugins --from-file=… --dry-run=client -o yaml`
# gives the same.) A ConfigMap holds at most 1 MiB: these two are about
# 0.7 MiB encoded. Larger plugins (JavaScript, Python) belong in an image or
# a volume instead.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PLUGINS=(file-tail mask)
cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: sluice-plugins
  labels:
    app.kubernetes.io/name: orders
    app.kubernetes.io/component: sluice
binaryData:
YAML
for p in "${PLUGINS[@]}"; do
  f=$ROOT/plugins/dist/$p.wasm
  [[ -f $f ]] || { echo "plugins-configmap: $f missing: run make plugins-rust" >&2; exit 1; }
  printf '  %s.wasm: %s\n' "$p" "$(base64 -w0 "$f")"
done
