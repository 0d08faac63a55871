package monitoring

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Ollama has no metrics endpoint. The probe measures what users feel from
// its API: a small generation's time to first token and tokens per second
// (Ollama's own duration and token fields), the status a user would get
// (503 when its queue is full), and what /api/ps says sits in GPU memory.
// It runs on the stage's nginx image (Debian with bash and curl), writes
// the metrics in Prometheus's text format and serves them with nginx.
const (
	ProbeFile    = "ollama-probe.sh"
	ProbeService = "ollama-probe"
	ProbePort    = 9800
	// ProbeEvery is how often each AI node gets one probe generation: a
	// handful of tokens a minute, small beside the users' load.
	ProbeEvery = time.Minute
)

// Probe metrics.
const (
	ProbeSuccess   = "nextflow_ollama_probe_success"
	ProbeQueueFull = "nextflow_ollama_queue_full"
	TokensPerSec   = "nextflow_ollama_tokens_per_second"
	TimeToFirst    = "nextflow_ollama_time_to_first_token_seconds"
	ModelVRAM      = "nextflow_ollama_model_vram_bytes"
	ModelSize      = "nextflow_ollama_model_size_bytes"
)

// ProbeTargets is the probe's OLLAMA_TARGETS: name=URL of every AI node,
// space-separated, in order.
func (p *Plan) ProbeTargets() string {
	j, ok := p.Job("ollama")
	if !ok {
		return ""
	}
	var out []string
	for _, t := range j.Targets {
		name, _, _ := strings.Cut(t, ":")
		out = append(out, fmt.Sprintf("%s=http://%s", name, t))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// probeScript is ollama-probe.sh. `ollama-probe.sh once` probes every
// target once and writes $OUT_DIR/metrics; `ollama-probe.sh serve` serves
// $OUT_DIR with nginx on $PROBE_PORT and probes every $PROBE_SECONDS.
const probeScript = `#!/bin/bash
# Rendered by nfx: Ollama's service level, measured from its API.
set -euo pipefail
targets=${OLLAMA_TARGETS:?set OLLAMA_TARGETS to name=URL pairs}
model=${OLLAMA_MODEL:?set OLLAMA_MODEL}
out_dir=${OUT_DIR:-/tmp/ollama-probe}
every=${PROBE_SECONDS:-60}
timeout=${PROBE_TIMEOUT:-120}
mkdir -p "$out_dir"
# nginx's workers run unprivileged and read the file.
chmod 755 "$out_dir"

declare -A ok_total=() fail_total=()

# field NAME FILE prints a top-level number field of Ollama's JSON answer
# (a string value cannot hold an unescaped quote, so the match is exact).
field() { grep -o "\"$1\":[0-9.e+-]*" "$2" | head -n1 | cut -d: -f2; }

json_string() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }

# auth prints the Authorization header of the AI API's key, where the stage
# asks for one ($OLLAMA_API_KEY_FILE): curl reads it from a descriptor,
# never a command line.
auth() { [ -z "${OLLAMA_API_KEY_FILE:-}" ] || printf 'Authorization: Bearer %s\n' "$(cat "$OLLAMA_API_KEY_FILE")"; }

probe() {
  local name=$1 url=$2 body code took evals evald prompt load
  body=$(mktemp)
  code=$(curl -sS -H @<(auth) -o "$body" -w '%{http_code} %{time_total}' -m "$timeout" -X POST "$url/api/generate" \
    -H 'Content-Type: application/json' \
    -d "{\"model\":$(json_string "$model"),\"prompt\":\"Reply with the word OK.\",\"stream\":false,\"options\":{\"num_predict\":8,\"temperature\":0}}" 2>/dev/null) || true
  took=${code#* }; code=${code%% *}
  case $code in ''|*[!0-9]*) code=0 ;; esac
  code=$((10#$code))
  case $took in ''|*[!0-9.]*) took=0 ;; esac
  local t="target=\"$name\""
  echo "nextflow_ollama_probe_status_code{$t} $code"
  echo "nextflow_ollama_probe_duration_seconds{$t} $took"
  echo "${ProbeQueueFull}{$t} $([ "$code" = 503 ] && echo 1 || echo 0)"
  evals=$(field eval_count "$body" || true); evald=$(field eval_duration "$body" || true)
  prompt=$(field prompt_eval_duration "$body" || true); load=$(field load_duration "$body" || true)
  if [ "$code" = 200 ] && [ -n "$evals" ] && [ -n "${evald:-}" ] && [ "${evald:-0}" != 0 ]; then
    ok_total[$name]=$(( ${ok_total[$name]:-0} + 1 ))
    echo "${ProbeSuccess}{$t} 1"
    awk -v n="$evals" -v d="$evald" 'BEGIN { printf "%.6g\n", n / (d / 1e9) }' | sed "s/^/${TokensPerSec}{$t} /"
    awk -v p="${prompt:-0}" -v l="${load:-0}" 'BEGIN { printf "%.6g\n", (p + l) / 1e9 }' | sed "s/^/${TimeToFirst}{$t} /"
  else
    fail_total[$name]=$(( ${fail_total[$name]:-0} + 1 ))
    echo "${ProbeSuccess}{$t} 0"
  fi
  echo "nextflow_ollama_probes_total{$t,result=\"ok\"} ${ok_total[$name]:-0}"
  echo "nextflow_ollama_probes_total{$t,result=\"failed\"} ${fail_total[$name]:-0}"
  # What sits in memory: each loaded model's size and the part in VRAM.
  if curl -fsS -H @<(auth) -o "$body" -m 10 "$url/api/ps" 2>/dev/null; then
    grep -o '"name":"[^"]*"\|"size":[0-9]*\|"size_vram":[0-9]*' "$body" | awk -v t="$t" '
      /^"name"/ { split($0, a, "\""); m = a[4]; gsub(/[\\"]/, "", m); next }
      /^"size":/ { split($0, a, ":"); printf "${ModelSize}{%s,model=\"%s\"} %s\n", t, m, a[2]; next }
      /^"size_vram"/ { split($0, a, ":"); printf "${ModelVRAM}{%s,model=\"%s\"} %s\n", t, m, a[2] }'
  fi
  rm -f "$body"
}

once() {
  local tmp="$out_dir/.metrics.tmp" pair
  {
    echo "# HELP ${ProbeSuccess} 1 when the last probe generation answered 200 with tokens"
    echo "# TYPE ${ProbeSuccess} gauge"
    echo "# HELP nextflow_ollama_probe_status_code HTTP status of the last probe, 0 when Ollama did not answer"
    echo "# TYPE nextflow_ollama_probe_status_code gauge"
    echo "# HELP nextflow_ollama_probe_duration_seconds wall time of the last probe generation"
    echo "# TYPE nextflow_ollama_probe_duration_seconds gauge"
    echo "# HELP ${ProbeQueueFull} 1 when Ollama answered 503: its request queue is full"
    echo "# TYPE ${ProbeQueueFull} gauge"
    echo "# HELP ${TokensPerSec} generation speed of the last probe (eval_count / eval_duration)"
    echo "# TYPE ${TokensPerSec} gauge"
    echo "# HELP ${TimeToFirst} load and prompt evaluation time of the last probe"
    echo "# TYPE ${TimeToFirst} gauge"
    echo "# HELP nextflow_ollama_probes_total probes by result since the probe started"
    echo "# TYPE nextflow_ollama_probes_total counter"
    echo "# HELP ${ModelSize} memory of each model Ollama has loaded (/api/ps)"
    echo "# TYPE ${ModelSize} gauge"
    echo "# HELP ${ModelVRAM} the part of it in GPU memory"
    echo "# TYPE ${ModelVRAM} gauge"
    for pair in $targets; do
      probe "${pair%%=*}" "${pair#*=}"
    done
    echo "# HELP nextflow_ollama_probe_last_run_timestamp_seconds when the probe last ran"
    echo "# TYPE nextflow_ollama_probe_last_run_timestamp_seconds gauge"
    echo "nextflow_ollama_probe_last_run_timestamp_seconds $(date +%s)"
  } > "$tmp"
  mv "$tmp" "$out_dir/metrics"
}

case ${1:-serve} in
  once) once ;;
  serve)
    port=${PROBE_PORT:-{{.Port}}}
    cat > "$out_dir/nginx.conf" <<CONF
worker_processes 1;
pid $out_dir/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $out_dir/body;
  proxy_temp_path $out_dir/proxy;
  fastcgi_temp_path $out_dir/fastcgi;
  uwsgi_temp_path $out_dir/uwsgi;
  scgi_temp_path $out_dir/scgi;
  server {
    listen $port;
    location = /metrics { default_type "text/plain; version=0.0.4"; alias $out_dir/metrics; }
  }
}
CONF
    once
    nginx -c "$out_dir/nginx.conf" -g 'daemon off;' &
    server=$!
    trap 'kill "$server" 2>/dev/null' EXIT
    while kill -0 "$server" 2>/dev/null; do
      sleep "$every"
      once
    done
    ;;
  *) echo "usage: ollama-probe.sh once|serve" >&2; exit 2 ;;
esac
`

// ProbeScript renders ollama-probe.sh.
func ProbeScript() []byte {
	s := strings.NewReplacer("${ProbeSuccess}", ProbeSuccess, "${ProbeQueueFull}", ProbeQueueFull,
		"${TokensPerSec}", TokensPerSec, "${TimeToFirst}", TimeToFirst, "${ModelSize}", ModelSize,
		"${ModelVRAM}", ModelVRAM, "{{.Port}}", fmt.Sprint(ProbePort)).Replace(probeScript)
	return []byte(s)
}
