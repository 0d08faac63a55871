#!/usr/bin/env bash
# Cold builds of the commit checked out (HEAD), as on a fresh machine (an empty Go build cache; the modules
# already downloaded), each timed as a whole with its peak memory (GNU
# time's maximum resident set of the largest process: the compiler or the
# linker):
#   make demo        nfx and nfx-pulumi built, then render and plan of the laptop
#   nfx-cloud        the CLI with the cloud stage
#   pulumi up        plain `pulumi up -s laptop` from a fresh copy: Pulumi's
#                    Go language host builds the lean program, then the
#                    engine runs it (needs bin/pulumi, bin/pulumi-language-go)
#   REV's nfx        with --vs REV: `go build ./cmd/nfx` at REV (say, the
#                    commit before the lean core), in a worktree of its own
#   --only NAME      only that build: demo, cloud or plain
# Usage: scripts/bench-build.sh [--vs REV] [--only demo|cloud|plain]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
vs="" only=""
while [ $# -gt 0 ]; do
  case $1 in
    --vs) vs=${2:?--vs needs a revision}; shift 2 ;;
    --only) only=${2:?--only needs demo, cloud or plain}; shift 2 ;;
    *) echo "usage: $0 [--vs REV] [--only demo|cloud|plain]" >&2; exit 2 ;;
  esac
done
# wanted NAME says whether --only leaves that build in.
wanted() { [ -z "$only" ] || [ "$only" = "$1" ]; }
work=$(mktemp -d)
cleanup() {
  if [ -n "$vs" ]; then git -C "$root" worktree remove --force "$work/vs" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export GOFLAGS=-buildvcs=false

# measure NAME DIR CMD... runs CMD in DIR with a fresh build cache and
# prints NAME, the wall time and the peak memory.
measure() {
  local name=$1 dir=$2
  shift 2
  rm -rf "$work/gocache"
  (cd "$dir" && GOCACHE="$work/gocache" /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/log" 2>&1) ||
    { echo "$name failed:" >&2; tail -20 "$work/log" >&2; exit 1; }
  read -r secs kb <"$work/time"
  printf '%-28s %6.0f s  %5.2f GB peak\n' "$name" "$secs" "$(echo "$kb / 1048576" | bc -l)"
}

# copy DIR puts the committed tree (HEAD, not the work tree's edits) in DIR.
copy() { mkdir -p "$1" && git -C "$root" archive HEAD | tar -xf - -C "$1"; }

if wanted demo; then
  copy "$work/demo"
  measure "make demo" "$work/demo" make demo
fi
if wanted cloud; then
  copy "$work/cloud"
  measure "go build ./cmd/nfx-cloud" "$work/cloud" go build -o bin/nfx-cloud ./cmd/nfx-cloud
fi
if wanted plain && [ -x "$root/bin/pulumi" ] && [ -x "$root/bin/pulumi-language-go" ]; then
  copy "$work/plain"
  export PATH="$root/bin:$PATH" PULUMI_SKIP_UPDATE_CHECK=true PULUMI_CONFIG_PASSPHRASE=bench \
    PULUMI_BACKEND_URL="file://$work/plain/.state" PULUMI_HOME="$work/plain/.home"
  mkdir -p "$work/plain/.state"
  (cd "$work/plain" && pulumi stack init laptop --non-interactive >/dev/null 2>&1 &&
    sed -i 's/mode: token/mode: none/' Pulumi.laptop.yaml &&
    for k in postgresPassword redisPassword qdrantApiKey grafanaAdminPassword; do
      printf 'Bench-%s-1' "$k" | pulumi config set --secret "nextflow:$k" -s laptop
    done)
  measure "pulumi up -s laptop" "$work/plain" pulumi up --yes --non-interactive -s laptop
fi
if [ -n "$vs" ]; then
  git -C "$root" worktree add --detach "$work/vs" "$vs" >/dev/null 2>&1
  measure "go build ./cmd/nfx at $vs" "$work/vs" go build -o bin/nfx ./cmd/nfx
fi
