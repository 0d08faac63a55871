#!/usr/bin/env bash
# Times whole nfx commands side by side in one run and prints the median of
# N runs each (default 9), in milliseconds. Offline commands run in a copy
# of the project; preview and up run the real engine on a local backend
# with the tunnel in token mode. Needs bin/nfx (make nfx) and bin/pulumi
# (scripts/build-pulumi.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-9}
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
bench_project Pulumi.laptop.yaml
"$root/bin/nfx" up --stage laptop >/dev/null 2>&1

declare -A results
cmds=("render" "plan" "preview" "up")
for ((i = 0; i < runs; i++)); do
  # Interleave the commands so machine noise hits them alike.
  for c in "${cmds[@]}"; do
    case $c in
      render) results[$c]+="$(time_ms "$root/bin/nfx" render --stage laptop) " ;;
      plan) results[$c]+="$(time_ms "$root/bin/nfx" plan --stage laptop --json) " ;;
      preview) results[$c]+="$(time_ms "$root/bin/nfx" preview --stage laptop) " ;;
      up) results[$c]+="$(time_ms "$root/bin/nfx" up --stage laptop) " ;;
    esac
  done
done
bench_report 8 "${cmds[@]}"
