#!/usr/bin/env bash
# Builds a real Kubernetes control plane from the Go module proxy into
# bin/kube/: kube-apiserver, kube-controller-manager and kube-scheduler of
# k8s.io/kubernetes (tools/kube: its staging modules replaced by their
# published releases, the version stamped so clients accept it), and kwok and
# kwokctl (tools/kwok), which simulate the cloud stage's nodes. etcd is
# Debian's (scripts/install-test-deps.sh). The build is cached by content:
# bin/kube/stamp holds a hash of the modules and this script, and a second run
# with the same hash builds nothing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/kube"
stamp=$(cat "$0" "$root"/tools/kube/go.{mod,sum} "$root"/tools/kwok/go.{mod,sum} | sha256sum | cut -c1-16)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
  echo "kube tools up to date in bin/kube ($stamp)"
  exit 0
fi
. "$root/scripts/tool-cache.sh"
key=$(tool_key "$0" "$root"/tools/kube/go.{mod,sum} "$root"/tools/kwok/go.{mod,sum})
if tool_restore kube "$key" "$root" bin/kube; then
  "$out/kube-apiserver" --version
  exit 0
fi
mkdir -p "$out"
rm -f "$out/stamp"
version=$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$root/tools/kube/go.mod")
[ -n "$version" ] || { echo "no k8s.io/kubernetes version in tools/kube/go.mod" >&2; exit 1; }
minor=$(echo "$version" | cut -d. -f2)
# Without the stamp the binaries report v0.0.0, which kubectl and client-go refuse.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
cd "$root/tools/kube"
for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
  echo "building $cmd $version"
  go build -trimpath -ldflags "$ldflags" -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
cd "$root/tools/kwok"
for cmd in kwok kwokctl; do
  echo "building $cmd"
  go build -trimpath -ldflags "-s -w" -o "$out/$cmd" "sigs.k8s.io/kwok/cmd/$cmd"
done
# kwok's stages (its module's "fast" node and pod lifecycles, with node
# heartbeats), which its controller needs to run the simulated nodes' pods.
kwokdir=$(go mod download -json sigs.k8s.io/kwok | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[ -d "$kwokdir" ] || { echo "cannot find kwok's module" >&2; exit 1; }
for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  echo "---"; cat "$kwokdir/kustomize/stage/$f"
done > "$out/stages.yaml"
# The Prometheus Operator's CRDs the cloud stage's objects use, at the
# version of the cloud's kube-prometheus-stack chart.
crds=$(cd "$root/tools/k8s" && go mod download -json github.com/prometheus-operator/prometheus-operator@v0.79.2 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/example/prometheus-operator-crd
[ -d "$crds" ] || { echo "cannot download the Prometheus Operator's CRDs" >&2; exit 1; }
mkdir -p "$out/crds"
cp "$crds"/monitoring.coreos.com_{servicemonitors,probes,prometheusrules}.yaml "$out/crds/"
echo "$stamp" > "$out/stamp"
tool_save kube "$key" "$root" bin/kube
"$out/kube-apiserver" --version
