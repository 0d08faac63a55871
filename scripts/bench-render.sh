#!/usr/bin/env bash
# Whole-process renders of each stage with N of the user's services (600 by
# default; the shape of BenchmarkRenderServices), medians of RUNS runs taken
# in turn, beside kompose converting a Compose file of the same services
# to Kubernetes manifests, when kompose is on PATH or in $KOMPOSE. Needs bin/nfx and bin/nfx-cloud (make nfx nfx-cloud); the cloud
# is timed on nfx-cloud, which nfx hands it to.
# Usage: scripts/bench-render.sh [N] [RUNS]
set -euo pipefail
n=${1:-600}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$root/Pulumi.yaml" "$work/"
for st in laptop server cloud; do
  {
    cat "$root/Pulumi.$st.yaml"
    echo '  nextflow:host: {threads: 256, memory: 512GiB}'
    echo '  nextflow:services:'
    for ((i = 0; i < n; i++)); do
      if ((i % 2 == 0)); then kind=web extra="port: $((8000 + i % 1000)), health: {http: /healthz}"
      else kind=worker extra='health: {command: "true"}'; fi
      echo "    - {name: svc-$i, kind: $kind, image: ghcr.io/acme/svc:1.$i.0, $extra, needs: [db, cache], env: {DATABASE_URL: '\${db.url}', REDIS_URL: '\${cache.url}', N: '$i'}, cpus: 0.05, memory: 64MiB, cpuRequest: 0.01, memoryRequest: 16MiB}"
    done
  } >"$work/Pulumi.$st.yaml"
done
cd "$work"
kompose=${KOMPOSE:-$(command -v kompose || true)}
# kompose takes neither the laptop's host mounts nor its secret files: it
# converts a Compose file of the same services alone (image, port, health
# check, environment, limits).
{
  echo 'services:'
  for ((i = 0; i < n; i++)); do
    echo "  svc-$i:"
    echo "    image: ghcr.io/acme/svc:1.$i.0"
    if ((i % 2 == 0)); then
      echo "    ports: [\"$((8000 + i % 1000))\"]"
      echo "    healthcheck: {test: [CMD, wget, -q, -O-, \"http://localhost:$((8000 + i % 1000))/healthz\"]}"
    else
      echo '    healthcheck: {test: [CMD, "true"]}'
    fi
    echo "    environment: {DATABASE_URL: postgres://db:5432/nextflow, REDIS_URL: redis://cache:6379, N: \"$i\"}"
    echo '    deploy: {resources: {limits: {cpus: "0.05", memory: 64M}, reservations: {cpus: "0.01", memory: 16M}}}'
  done
} >"$work/services-compose.yaml"
declare -A results
names=(laptop server cloud cloud-again)
for ((r = 0; r < runs; r++)); do
  # Each stage into an empty directory, as a first render; the cloud again
  # into its output, nothing changed (nfx leaves an unchanged file alone).
  rm -rf "$work/out-laptop" "$work/out-server" "$work/out-cloud"
  results[laptop]+="$(time_ms "$root/bin/nfx" render --stage laptop --out "$work/out-laptop") "
  results[server]+="$(time_ms "$root/bin/nfx" render --stage server --out "$work/out-server") "
  results[cloud]+="$(time_ms "$root/bin/nfx-cloud" render --stage cloud --out "$work/out-cloud") "
  results[cloud-again]+="$(time_ms "$root/bin/nfx-cloud" render --stage cloud --out "$work/out-cloud") "
  if [ -n "$kompose" ]; then
    rm -rf "$work/kompose" && mkdir "$work/kompose"
    results[kompose]+="$(time_ms "$kompose" convert -f "$work/services-compose.yaml" -o "$work/kompose") "
  fi
done
[ -n "$kompose" ] && names+=(kompose)
echo "$n services, $(find "$work/out-cloud/k8s" -type f | wc -l) cloud manifests; kompose wrote $(find "$work/kompose" -type f 2>/dev/null | wc -l) files"
bench_report 12 "${names[@]}"
