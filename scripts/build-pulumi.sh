#!/usr/bin/env bash
# Builds the pinned Pulumi CLI from the Go module proxy into bin/pulumi.
# nfx uses it for preview/up/destroy when no `pulumi` is on PATH, and the
# tests use it for the real-engine tests. A cold build takes a few minutes
# and about 170 MB; it is skipped when bin/pulumi already has the version.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=v3.274.1
bin="$root/bin/pulumi"
if [ -x "$bin" ] && [ "$(PULUMI_SKIP_UPDATE_CHECK=true "$bin" version 2>/dev/null)" = "$version" ]; then
  echo "bin/pulumi $version is up to date"
  exit 0
fi
. "$root/scripts/tool-cache.sh"
key=$(tool_key "$0" "$root/tools/pulumi/go.mod" "$root/tools/pulumi/go.sum")
if tool_restore pulumi "$key" "$root" bin/pulumi; then
  PULUMI_SKIP_UPDATE_CHECK=true "$bin" version
  exit 0
fi
mkdir -p "$root/bin"
cd "$root/tools/pulumi"
echo "building Pulumi CLI $version into bin/pulumi (a cold build takes several minutes)"
go build -trimpath \
  -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
  -o "$bin.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
mv "$bin.tmp" "$bin"
tool_save pulumi "$key" "$root" bin/pulumi
PULUMI_SKIP_UPDATE_CHECK=true "$bin" version
