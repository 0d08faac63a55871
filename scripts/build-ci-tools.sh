#!/usr/bin/env bash
# The CI tools the pipeline tests run, into bin/: actionlint (v1.7.12, from the
# Go module proxy) for the GitHub workflows, and gitlab-ci-local (4.75.0, from
# the npm registry, with the Node 22 it needs, pinned in tools/ci) for the
# GitLab pipeline, run for real with its shell executor.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/bin"
. "$root/scripts/tool-cache.sh"
key=$(tool_key "$0")
if [ ! -x "$root/bin/actionlint" ] && ! tool_restore actionlint "$key" "$root" bin/actionlint; then
  echo "building actionlint"
  GOBIN="$root/bin" go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
  tool_save actionlint "$key" "$root" bin/actionlint
fi
command -v npm >/dev/null || { echo "npm is required for gitlab-ci-local (apt-get install npm)" >&2; exit 1; }
nkey=$(tool_key "$0" "$root/tools/ci/package.json" "$root/tools/ci/package-lock.json")
if { [ ! -x "$root/tools/ci/node_modules/.bin/gitlab-ci-local" ] || [ ! -x "$root/tools/ci/node_modules/.bin/node" ]; } &&
  ! tool_restore gitlab-ci-local "$nkey" "$root" tools/ci/node_modules; then
  echo "installing gitlab-ci-local"
  (cd "$root/tools/ci" && npm ci --no-audit --no-fund --loglevel=error)
  tool_save gitlab-ci-local "$nkey" "$root" tools/ci/node_modules
fi
# gitlab-ci-local on the pinned Node, whatever node is first on PATH.
cat > "$root/bin/gitlab-ci-local" <<SH
#!/bin/sh
exec "$root/tools/ci/node_modules/.bin/node" "$root/tools/ci/node_modules/gitlab-ci-local/dist/index.js" "\$@"
SH
chmod +x "$root/bin/gitlab-ci-local"
echo "actionlint $("$root/bin/actionlint" -version | head -n1), gitlab-ci-local $("$root/bin/gitlab-ci-local" --version)"
