#!/usr/bin/env bash
# Builds Pulumi's Go language host (pulumi-language-go) into bin/, so that
# plain `pulumi preview|up|destroy -s <stack>` runs the program as on a
# user's machine (every Pulumi release ships it; the Go module proxy does
# not serve it). The source is the build kit beside the project,
# ../shared/tools/pulumi-language-go. Skipped when bin/ has it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin/pulumi-language-go"
if [ -x "$bin" ]; then
  echo "bin/pulumi-language-go is there"
  exit 0
fi
kit="$root/../shared/tools/pulumi-language-go/build.sh"
if [ ! -f "$kit" ]; then
  echo "no $kit: install Pulumi's release (it ships pulumi-language-go) and put it on PATH, or place the build kit there" >&2
  exit 1
fi
bash "$kit" "$root/bin"
