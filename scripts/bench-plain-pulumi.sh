#!/usr/bin/env bash
# Times a no-change `pulumi preview -s laptop` through Pulumi's Go language
# host, N runs interleaved: with Pulumi.yaml's runtime.options.buildTarget
# (the program kept in bin/ and not relinked when unchanged), and with a
# plain `runtime: go` (the host builds the program into a temporary file
# every time). Prints each run and the medians. Needs bin/pulumi and
# bin/pulumi-language-go (make pulumi language-host).
# Usage: scripts/bench-plain-pulumi.sh [N]
set -euo pipefail
n=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$root/bin:$PATH" PULUMI_SKIP_UPDATE_CHECK=true PULUMI_CONFIG_PASSPHRASE=bench
for mode in target plain; do
  mkdir -p "$work/$mode"
  (cd "$root" && git ls-files | tar -cf - -T -) | tar -xf - -C "$work/$mode"
  cd "$work/$mode"
  if [ "$mode" = plain ]; then
    python3 - <<'PY'
import re
s = open("Pulumi.yaml").read()
s = re.sub(r"runtime:\n  name: go\n  options:\n(    #.*\n)*    buildTarget: .*\n", "runtime: go\n", s)
open("Pulumi.yaml", "w").write(s)
PY
  fi
  export PULUMI_BACKEND_URL="file://$work/$mode/.state" PULUMI_HOME="$work/$mode/.home"
  mkdir -p .state
  pulumi stack init laptop --non-interactive >/dev/null
  sed -i 's/mode: token/mode: none/' Pulumi.laptop.yaml
  printf 'Bench-password-1' | pulumi config set --secret nextflow:postgresPassword -s laptop
  printf 'Bench-password-2' | pulumi config set --secret nextflow:redisPassword -s laptop
  printf 'Bench-password-3' | pulumi config set --secret nextflow:qdrantApiKey -s laptop
  printf 'Bench-password-4' | pulumi config set --secret nextflow:grafanaAdminPassword -s laptop
  pulumi up --yes --non-interactive -s laptop >/dev/null
done
declare -A times
for i in $(seq "$n"); do
  for mode in target plain; do
    cd "$work/$mode"
    export PULUMI_BACKEND_URL="file://$work/$mode/.state" PULUMI_HOME="$work/$mode/.home"
    start=$(date +%s.%N)
    pulumi preview --expect-no-changes --non-interactive -s laptop >/dev/null
    end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc)
    echo "run $i $mode ${t}s"
    times[$mode]="${times[$mode]:-} $t"
  done
done
for mode in target plain; do
  echo "median $mode: $(tr ' ' '\n' <<<"${times[$mode]}" | grep . | median)s"
done
