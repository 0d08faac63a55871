#!/usr/bin/env bash
# Times whole nfx commands side by side in one run and prints the median of
# N runs each (default 9), in milliseconds. Offline commands run in a copy
# of the project; preview and up run the real engine on a local backend
# with the tunnel in token mode. The front nfx's start (--help, capacity)
# is timed beside nfx-pulumi's, render both through the front's hand-over
# and on nfx-pulumi directly, and kompose's --help when kompose is on PATH
# or in $KOMPOSE. Needs bin/nfx and bin/nfx-pulumi (make nfx) and
# bin/pulumi (scripts/build-pulumi.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-9}
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
bench_project Pulumi.laptop.yaml
"$root/bin/nfx" up --stage laptop >/dev/null 2>&1

declare -A results
kompose=${KOMPOSE:-$(command -v kompose || true)}
cmds=("help" "help-pulumi" "capacity" "capacity-pulumi" "render" "render-pulumi" "plan" "preview" "up")
[ -n "$kompose" ] && cmds+=("kompose-help")
for ((i = 0; i < runs; i++)); do
  # Interleave the commands so machine noise hits them alike.
  for c in "${cmds[@]}"; do
    case $c in
      help) results[$c]+="$(time_ms "$root/bin/nfx" --help) " ;;
      help-pulumi) results[$c]+="$(time_ms "$root/bin/nfx-pulumi" --help) " ;;
      capacity) results[$c]+="$(time_ms "$root/bin/nfx" capacity --stage laptop) " ;;
      capacity-pulumi) results[$c]+="$(time_ms "$root/bin/nfx-pulumi" capacity --stage laptop) " ;;
      render) results[$c]+="$(time_ms "$root/bin/nfx" render --stage laptop) " ;;
      render-pulumi) results[$c]+="$(time_ms "$root/bin/nfx-pulumi" render --stage laptop) " ;;
      kompose-help) results[$c]+="$(time_ms "$kompose" --help) " ;;
      plan) results[$c]+="$(time_ms "$root/bin/nfx" plan --stage laptop --json) " ;;
      preview) results[$c]+="$(time_ms "$root/bin/nfx" preview --stage laptop) " ;;
      up) results[$c]+="$(time_ms "$root/bin/nfx" up --stage laptop) " ;;
    esac
  done
done
bench_report 16 "${cmds[@]}"
