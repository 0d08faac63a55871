#!/usr/bin/env bash
# Builds Pulumi's Go language host (pulumi-language-go) into bin/, so that
# plain `pulumi preview|up|destroy -s <stack>` runs the program as on a
# user's machine (every Pulumi release ships it; the Go module proxy does
# not serve it). The source is the build kit of the workplace's shared
# tools. Skipped when bin/ or PATH has it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin/pulumi-language-go"
if [ -x "$bin" ]; then
  echo "bin/pulumi-language-go is there"
  exit 0
fi
if command -v pulumi-language-go >/dev/null; then
  echo "pulumi-language-go is on PATH: $(command -v pulumi-language-go)"
  exit 0
fi
# The build kit: where NFX_LANGUAGE_HOST_KIT says, beside the project, or
# in the workplace's shared tools.
. "$root/scripts/tool-cache.sh"
for kit in "${NFX_LANGUAGE_HOST_KIT:-}" "$root/../shared/tools/pulumi-language-go" /work/shared/tools/pulumi-language-go; do
  if [ -n "$kit" ] && [ -f "$kit/build.sh" ]; then
    mapfile -t sources < <(find "$kit" -type f -not -name '*.md' -not -name LICENSE | LC_ALL=C sort)
    key=$(tool_key "$0" "${sources[@]}")
    tool_restore language-host "$key" "$root" bin/pulumi-language-go && exit 0
    bash "$kit/build.sh" "$root/bin"
    tool_save language-host "$key" "$root" bin/pulumi-language-go
    exit 0
  fi
done
echo "no pulumi-language-go: install Pulumi's release (it ships it) and put it on PATH, or set NFX_LANGUAGE_HOST_KIT to its build kit" >&2
exit 1
