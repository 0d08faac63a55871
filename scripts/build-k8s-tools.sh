#!/usr/bin/env bash
# Builds the Kubernetes manifest checkers from the Go module proxy into bin/
# (kubeconform v0.8.0, kube-score v1.20.0) and generates the strict schemas
# kubeconform validates against into bin/k8s-schemas/, from the Kubernetes
# swagger that the pulumi-kubernetes provider module carries; nothing else
# is downloaded.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# The provider module's version the proxy serves (its tagged v4.32.0 is not served).
provider=github.com/pulumi/pulumi-kubernetes/provider/v4@v4.0.0-20260115033456-f47bc2d6f199
# The Prometheus Operator of the cloud's kube-prometheus-stack chart: its
# CRDs give the schemas of the ServiceMonitors, Probes and PrometheusRules.
operator=github.com/prometheus-operator/prometheus-operator@v0.79.2
mkdir -p "$root/bin"
. "$root/scripts/tool-cache.sh"
mapfile -t sources < <(find "$root/tools/k8s/schemagen" -type f | LC_ALL=C sort)
key=$(tool_key "$0" "$root"/tools/k8s/go.{mod,sum} "${sources[@]}")
outputs=(bin/kubeconform bin/kube-score bin/schemagen bin/k8s-schemas)
if [ ! -s "$root/bin/k8s-schemas/.key" ] || [ "$(cat "$root/bin/k8s-schemas/.key")" != "$key" ]; then
  tool_restore k8s "$key" "$root" "${outputs[@]}" || true
fi
cd "$root/tools/k8s"
for tool in kubeconform:github.com/yannh/kubeconform/cmd/kubeconform kube-score:github.com/zegl/kube-score/cmd/kube-score; do
  name=${tool%%:*}
  if [ ! -x "$root/bin/$name" ]; then
    echo "building $name"
    go build -o "$root/bin/$name" "${tool#*:}"
  fi
done
if [ ! -x "$root/bin/schemagen" ] || [ ! -s "$root/bin/k8s-schemas/.key" ] || [ "$(cat "$root/bin/k8s-schemas/.key")" != "$key" ]; then
  go build -o "$root/bin/schemagen" ./schemagen
fi
if [ ! -s "$root/bin/k8s-schemas/.key" ] || [ "$(cat "$root/bin/k8s-schemas/.key")" != "$key" ] ||
  [ ! -s "$root/bin/k8s-schemas/deployment-apps-v1.json" ] || [ ! -s "$root/bin/k8s-schemas/servicemonitor-monitoring-v1.json" ]; then
  dir=$(go mod download -json "$provider" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -n "$dir" ] || { echo "cannot download $provider" >&2; exit 1; }
  crds=$(go mod download -json "$operator" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/example/prometheus-operator-crd
  [ -d "$crds" ] || { echo "cannot download $operator" >&2; exit 1; }
  rm -rf "$root/bin/k8s-schemas"
  "$root/bin/schemagen" -swagger "$dir/pkg/clients/fake/swagger.json" -out "$root/bin/k8s-schemas" \
    "$crds/monitoring.coreos.com_servicemonitors.yaml" "$crds/monitoring.coreos.com_probes.yaml" \
    "$crds/monitoring.coreos.com_prometheusrules.yaml"
  echo "$key" > "$root/bin/k8s-schemas/.key"
  tool_save k8s "$key" "$root" "${outputs[@]}"
fi
echo "kubeconform $("$root/bin/kubeconform" -v), kube-score $("$root/bin/kube-score" version | head -n1), schemas in bin/k8s-schemas"
