# shellcheck shell=bash
# Shared by the bench-*.sh scripts (sourced): a copy of the project to time
# nfx in, the timer, and the report of medians. The scripts set root (the
# repository), runs and the associative array results.
# shellcheck disable=SC2154

# bench_project FILE... copies Pulumi.yaml, the given stack files and the
# program into a temporary project (removed on exit), links bin/pulumi, and
# enters it with the real engine on a local backend and the tunnel in token
# mode. $root is the repository.
bench_project() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/cmd/nextflow" "$work/bin"
  cp "$root/Pulumi.yaml" "$work/"
  for f in "$@"; do cp "$root/$f" "$work/"; done
  cp "$root/cmd/nextflow/main.go" "$work/cmd/nextflow/"
  ln -s "$root/bin/pulumi" "$work/bin/pulumi"
  # A token of the shape cloudflared takes (base64 of {"a","s","t"}), which nfx checks.
  NFX_TUNNEL_TOKEN=$(printf '{"a":"bench","s":"%s","t":"6ff42ae2-765d-4adf-8112-31c55c1551ef"}' \
    "$(printf bench-tunnel-secret | base64 -w0)" | base64 -w0)
  export PULUMI_HOME="$work/.pulumi-home" NFX_TUNNEL_TOKEN
  unset PULUMI_CONFIG_PASSPHRASE PULUMI_CONFIG_PASSPHRASE_FILE PULUMI_BACKEND_URL
  cd "$work" || exit 1
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# time_ms CMD... runs CMD, its output discarded, and prints how many
# milliseconds it took (to a tenth), whether it succeeded or not.
time_ms() {
  local s e
  s=$(date +%s%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s%N)
  printf '%d.%d\n' $(( (e - s) / 1000000 )) $(( (e - s) / 100000 % 10 ))
}

# bench_report WIDTH NAME... prints each name's median from results[NAME].
bench_report() {
  local width=$1 c
  shift
  printf "%-${width}s %s\n" command "median ms (of $runs)"
  for c in "$@"; do
    printf "%-${width}s %s\n" "$c" "$(tr ' ' '\n' <<<"${results[$c]}" | grep . | median)"
  done
}
