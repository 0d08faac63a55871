#!/usr/bin/env bash
# Times a promotion's parts side by side in one run and prints the median
# of N runs each (default 7), in milliseconds: the offline plan of the
# server, the dry run with the offline gates only (--config-only), the dry
# run with the engine's preview, a plain nfx preview of the server, and an
# apply (promote, up, verification) that alternates two CRM releases so
# each run changes the server. The real engine runs on a local backend.
# Needs bin/nfx (make nfx) and bin/pulumi (scripts/build-pulumi.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-7}
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
bench_project Pulumi.laptop.yaml Pulumi.server.yaml
nfx="$root/bin/nfx"
"$nfx" up --stage server >/dev/null 2>&1
laptop=$(cat Pulumi.laptop.yaml)
release() { printf '%s\n  nextflow:crm:\n    image: ghcr.io/nextflow-crm/crm:%s\n' "$laptop" "$1" >Pulumi.laptop.yaml; }
release 1.9.0

declare -A results
cmds=("plan" "dry-run-offline" "dry-run" "preview" "apply")
for ((i = 0; i < runs; i++)); do
  # Interleave the commands so machine noise hits them alike.
  for c in "${cmds[@]}"; do
    case $c in
      plan) results[$c]+="$(time_ms "$nfx" plan --stage server --json) " ;;
      dry-run-offline) results[$c]+="$(time_ms "$nfx" promote --from laptop --to server --dry-run --config-only) " ;;
      dry-run) results[$c]+="$(time_ms "$nfx" promote --from laptop --to server --dry-run) " ;;
      preview) results[$c]+="$(time_ms "$nfx" preview --stage server) " ;;
      apply)
        if ((i % 2)); then release 1.9.0; else release 1.9.1; fi
        results[$c]+="$(time_ms "$nfx" promote --from laptop --to server) " ;;
    esac
  done
done
bench_report 16 "${cmds[@]}"
"$nfx" ledger --verify
