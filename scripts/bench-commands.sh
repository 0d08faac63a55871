#!/usr/bin/env bash
# Times whole nfx commands side by side in one run and prints the median of
# N runs each (default 9), in milliseconds. Offline commands run in a copy
# of the project; preview and up run the real engine on a local backend
# with the tunnel in token mode. Needs bin/nfx (make nfx) and bin/pulumi
# (scripts/build-pulumi.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-9}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cmd/nextflow" "$work/bin"
cp "$root"/Pulumi.yaml "$root"/Pulumi.laptop.yaml "$work/"
cp "$root/cmd/nextflow/main.go" "$work/cmd/nextflow/"
ln -s "$root/bin/pulumi" "$work/bin/pulumi"
export PULUMI_HOME="$work/.pulumi-home" NFX_TUNNEL_TOKEN=bench-token
unset PULUMI_CONFIG_PASSPHRASE PULUMI_CONFIG_PASSPHRASE_FILE PULUMI_BACKEND_URL
cd "$work"
"$root/bin/nfx" up --stage laptop >/dev/null 2>&1

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_ms() {
  local s e
  s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
  echo $(( (e - s) / 1000000 ))
}
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
printf '%-8s %s\n' command "median ms (of $runs)"
for c in "${cmds[@]}"; do
  printf '%-8s %s\n' "$c" "$(tr ' ' '\n' <<<"${results[$c]}" | grep . | median)"
done
