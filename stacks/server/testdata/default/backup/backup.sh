#!/bin/bash
# NextFlow's backups to the NAS. `backup.sh KIND` makes one backup of KIND
# (postgres, redis, qdrant or models) under $BACKUP_DIR/KIND, with a SHA-256
# checksum beside it, then deletes that kind's backups older than
# $RETENTION_DAYS days. `backup.sh schedule KIND` does so every day at
# $BACKUP_TIME (HH:MM, UTC: the containers' clock, whatever the node's zone).
set -euo pipefail
backup_dir=${BACKUP_DIR:-/backups}
retention_days=${RETENTION_DAYS:-14}
backup_time=${BACKUP_TIME:-03:00}

log() { echo "backup: $(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }

# secret_env VAR FILE exports VAR with the content of FILE, for the clients
# that read their password from the environment.
secret_env() { local v; v=$(cat "$2"); export "$1=$v"; }

backup_postgres() {
  secret_env PGPASSWORD "${POSTGRES_PASSWORD_FILE:-/run/secrets/postgres_password}"
  # From the replica, so the primary carries no backup load.
  pg_dump -Fc -Z 6 -h "${PGHOST:-postgres-replica}" -p "${PGPORT:-5432}" \
    -U "${PGUSER:-nextflow}" -d "${PGDATABASE:-nextflow}" -f "$1"
}

backup_redis() {
  secret_env REDISCLI_AUTH "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}"
  redis-cli --no-auth-warning -h "${REDIS_HOST:-redis-replica}" -p "${REDIS_PORT:-6379}" --rdb "$1" >/dev/null
}

# The backup and restore scripts' Qdrant client.
qdrant_urls=${QDRANT_URLS:-http://qdrant-1:6333 http://qdrant-2:6333 http://qdrant-3:6333}

# qmeta asks for a small answer, which comes within QDRANT_TIMEOUT seconds
# or not at all; qcurl moves a snapshot, or waits while a peer makes or
# recovers one, and gives up when nothing moves for QDRANT_STALL seconds. A
# peer that takes a connection and never answers would otherwise hold the
# backup's lock for ever.
# Both send Qdrant's API key from its secret's file as a header curl reads
# from a descriptor (-H @FILE), never on a command line.
qmeta() { curl -fsS -H @<(qkey) --connect-timeout 10 --max-time "${QDRANT_TIMEOUT:-120}" "$@"; }
qcurl() { curl -fsS -H @<(qkey) --connect-timeout 10 --speed-limit 1 --speed-time "${QDRANT_STALL:-1800}" "$@"; }
qdrant_key=${QDRANT_API_KEY_FILE:-/run/secrets/qdrant_api_key}
qkey() {
  local k
  if ! k=$(cat "$qdrant_key") || [ -z "$k" ]; then
    echo "qdrant: no API key in $qdrant_key" >&2
    return 1
  fi
  printf 'api-key: %s\n' "$k"
}

# json [--raw|--keys] STEP... prints the values at a path of the JSON
# document on stdin, one a line: a STEP is an object's key, an array's
# index, or * for every member. Strings print unquoted (escapes decoded)
# unless --raw; objects and arrays as they are; --keys prints the keys of
# the objects at the path, as JSON strings. The images the scripts run in
# have awk but no jq, and Qdrant answers in compact JSON.
json() {
  local raw=0
  case ${1:-} in
    --raw) raw=1; shift ;;
    --keys) raw=2; shift ;;
  esac
  LC_ALL=C awk -v path="$*" -v raw="$raw" '
    function ws(i) { while (i <= n && index(" \t\r\n", substr(s, i, 1))) i++; return i }
    # vend(i) is the index just past the value that starts at i.
    function vend(i,   c, d) {
      c = substr(s, i, 1)
      if (c == "\"") {
        for (i++; i <= n; i++) { c = substr(s, i, 1); if (c == "\\") i++; else if (c == "\"") return i + 1 }
        return n + 1
      }
      if (c == "{" || c == "[") {
        for (d = 0; i <= n; i++) {
          c = substr(s, i, 1)
          if (c == "\"") { i = vend(i) - 1; continue }
          if (c == "{" || c == "[") d++
          else if ((c == "}" || c == "]") && --d == 0) return i + 1
        }
        return n + 1
      }
      while (i <= n && index(",}] \t\r\n", substr(s, i, 1)) == 0) i++
      return i
    }
    # walk(i, k) follows the path from step k at the value that starts at i.
    function walk(i, k,   c, e, j, key, idx) {
      i = ws(i)
      if (k > np && raw != 2) { out(substr(s, i, vend(i) - i)); return }
      c = substr(s, i, 1)
      if (c != "{" && c != "[") return
      for (j = ws(i + 1); j <= n && index("}]", substr(s, j, 1)) == 0; idx++) {
        key = idx + 0 ""
        if (c == "{") {
          e = vend(j); key = substr(s, j + 1, e - j - 2)
          if (k > np) print substr(s, j, e - j)
          j = ws(ws(e) + 1)
        }
        if (k > np) { j = ws(vend(j)); if (substr(s, j, 1) == ",") j = ws(j + 1); continue }
        e = vend(j)
        if (p[k] == "*" || p[k] == key) walk(j, k + 1)
        j = ws(e)
        if (substr(s, j, 1) == ",") j = ws(j + 1)
      }
    }
    function out(v) {
      if (raw == 0 && substr(v, 1, 1) == "\"") v = unquote(v)
      print v
    }
    function unquote(v,   r, i, c, u, l) {
      for (i = 2; i < length(v); i++) {
        c = substr(v, i, 1)
        if (c != "\\") { r = r c; continue }
        c = substr(v, ++i, 1)
        if (c == "u") {
          u = hex(substr(v, i + 1, 4)); i += 4
          if (u >= 55296 && u < 56320 && substr(v, i + 1, 2) == "\\u") {
            l = hex(substr(v, i + 3, 4))
            if (l >= 56320 && l < 57344) { u = 65536 + (u - 55296) * 1024 + l - 56320; i += 6 }
          }
          r = r utf8(u)
        } else r = r (c == "n" ? "\n" : c == "t" ? "\t" : c == "r" ? "\r" : c == "b" ? "\b" : c == "f" ? "\f" : c)
      }
      return r
    }
    function hex(h,   i, x) {
      for (i = 1; i <= 4; i++) x = x * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
      return x
    }
    # utf8(c) is code point c in UTF-8, a byte at a time (LC_ALL=C).
    function utf8(c) {
      if (c < 128) return sprintf("%c", c)
      if (c < 2048) return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
      if (c < 65536) return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
      return sprintf("%c%c%c%c", 240 + int(c / 262144), 128 + int(c / 4096) % 64, 128 + int(c / 64) % 64, 128 + c % 64)
    }
    { s = s $0 "\n" }
    END { n = length(s); np = split(path, p, " "); walk(1, 1) }'
}

# urlenc S prints S for a URL's path: a collection's name may hold spaces,
# percent signs and other characters a URL does not carry as they are.
urlenc() {
  local LC_ALL=C s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# unjson VAR RAW sets VAR to the JSON string RAW decoded, as it is: a
# collection's name may hold a newline, even a trailing one, which a
# command substitution would drop.
unjson() {
  local v
  v=$(printf '%s' "$2" | json; printf x)
  v=${v%x}
  printf -v "$1" '%s' "${v%$'\n'}"
}

# qdrant_any PATH prints PATH's answer from the first peer that gives one.
qdrant_any() {
  local url
  for url in $qdrant_urls; do
    qmeta "$url$1" && return 0
  done
  echo "qdrant: no peer answers $1 ($qdrant_urls)" >&2
  return 1
}

# collection_code URL NAME prints the HTTP status the peer at URL gives
# for the collection (200, 404), or nothing when it does not answer.
collection_code() {
  local code
  code=$(curl -sS -H @<(qkey) -o /dev/null --connect-timeout 10 --max-time "${QDRANT_TIMEOUT:-120}" -w '%{http_code}' \
    "$1/collections/$(urlenc "$2")" 2>/dev/null || true)
  case $code in 000 | "") ;; *) echo "$code" ;; esac
}

# collection_status NAME prints the HTTP status of the collection from the
# first peer that answers (200, or 404 when there is no such collection).
collection_status() {
  local url code
  for url in $qdrant_urls; do
    code=$(collection_code "$url" "$1")
    [ -n "$code" ] || continue
    echo "$code"
    return 0
  done
}


# snapshot_shard URL COLLECTION SHARD FILE saves one shard, from the peer at
# URL, to FILE, checked against the checksum Qdrant gives, and deletes the
# snapshot from the peer's disk. It fails (FILE absent) rather than exit, so
# that another copy can be tried.
snapshot_shard() {
  local base body snap sum rc=0
  base="$1/collections/$(urlenc "$2")/shards/$3/snapshots"
  body=$(qcurl -X POST "$base?wait=true") || return 1
  snap=$(printf '%s' "$body" | json result name)
  sum=$(printf '%s' "$body" | json result checksum)
  [ -n "$snap" ] || { echo "backup: qdrant: $1 made no snapshot of shard $3 of $2" >&2; return 1; }
  base="$base/$(urlenc "$snap")"
  qcurl -o "$4" "$base" || rc=1
  if [ "$rc" = 0 ] && [ -n "$sum" ] && [ "$sum" != null ] && [ "$(sha256sum < "$4" | cut -d' ' -f1)" != "$sum" ]; then
    echo "backup: qdrant: shard $3 of $2 from $1 does not match the checksum Qdrant gave" >&2
    rc=1
  fi
  qmeta -X DELETE "$base" >/dev/null || log "qdrant: snapshot $snap of shard $3 of $2 stays on $1's disk; delete it: curl -H @<(printf 'api-key: %s\\n' \"\$(cat $qdrant_key)\") -X DELETE '$base'"
  [ "$rc" = 0 ] || rm -f "$4"
  return "$rc"
}

# A collection snapshot holds the shards of the one peer that makes it: with
# three peers and two copies of each shard no peer holds every shard. So the
# archive holds, for each collection (cN/), its name (name.json), its
# configuration and payload indexes (to create it again on an empty
# cluster), every peer's view of its shards (cluster.json: the shard keys of
# a custom-sharded one), and a snapshot of every shard, each from a copy its
# own peer calls active and no other peer calls anything else. A copy that
# cannot be saved is tried on another peer; a shard with no copy saved
# fails the backup: an archive without it is no backup.
backup_qdrant() {
  local work="$1.d" i=0 listing="" answered="" raw name dir url enc info me ids states id state disputed here gone
  local -A views=()
  mkdir -p "$work"
  # Every peer's list: a peer still catching up on the cluster's state can
  # list fewer collections than the others.
  for url in $qdrant_urls; do
    if info=$(qmeta "$url/collections"); then
      answered=1
      listing+=$(printf '%s' "$info" | json --raw result collections '*' name)$'\n'
    else
      log "qdrant: $url does not answer"
    fi
  done
  [ -n "$answered" ] || { echo "backup: qdrant: no peer answers ($qdrant_urls)" >&2; return 1; }
  while IFS= read -r raw; do
    [ -n "$raw" ] || continue
    unjson name "$raw"
    enc=$(urlenc "$name")
    # Listed by one peer is not enough: a peer behind the others can still
    # list a collection they deleted, or not yet list one they made. The
    # answering peers' majority decides; a tie fails the backup.
    here=0 gone=0
    for url in $qdrant_urls; do
      case $(collection_code "$url" "$name") in
        200) here=$((here + 1)) ;;
        404) gone=$((gone + 1)) ;;
      esac
    done
    if [ "$gone" -gt "$here" ]; then
      log "qdrant: collection $name is gone on $gone peers (deleted during the backup); not in it"
      continue
    fi
    [ "$here" -gt "$gone" ] || { echo "backup: qdrant: the peers disagree whether collection $name exists ($here have it, $gone do not); no backup is kept" >&2; return 1; }
    views=()
    for url in $qdrant_urls; do
      views[$url]=$(qmeta "$url/collections/$enc/cluster" 2>/dev/null) || views[$url]=""
    done
    if [ -z "$(printf '%s' "${views[@]}")" ]; then
      echo "backup: qdrant: no peer gives the shards of collection $name ($qdrant_urls)" >&2
      return 1
    fi
    i=$((i + 1))
    dir="$work/c$i"
    mkdir -p "$dir"
    printf '%s\n' "$raw" > "$dir/name.json"
    info=$(qdrant_any "/collections/$enc")
    printf '%s' "$info" | json --raw result config > "$dir/config.json"
    printf '%s' "$info" | json --raw result payload_schema > "$dir/payload_schema.json"
    [ -s "$dir/config.json" ] || { echo "backup: qdrant: no configuration for collection $name" >&2; return 1; }
    # The copies some peer calls other than active: a peer cut off from
    # the others can still call its own copy active.
    disputed=$(for url in $qdrant_urls; do
      [ -n "${views[$url]}" ] || continue
      paste -d' ' <(printf '%s' "${views[$url]}" | json result remote_shards '*' peer_id) \
        <(printf '%s' "${views[$url]}" | json result remote_shards '*' shard_id) \
        <(printf '%s' "${views[$url]}" | json result remote_shards '*' state)
    done | awk '$3 != "Active" { print $1 " " $2 }')
    : > "$dir/cluster.json"
    for url in $qdrant_urls; do
      info=${views[$url]}
      [ -n "$info" ] || { log "qdrant: no shard list of $name from $url; its shards are saved from their other copies"; continue; }
      printf '%s\n' "$info" >> "$dir/cluster.json"
      me=$(printf '%s' "$info" | json result peer_id)
      ids=$(printf '%s' "$info" | json result local_shards '*' shard_id)
      states=$(printf '%s' "$info" | json result local_shards '*' state)
      while read -r id state; do
        if [ -z "$id" ] || [ "$state" != Active ] || [ -e "$dir/shard-$id.snapshot" ]; then continue; fi
        if grep -qx "$me $id" <<<"$disputed"; then
          log "qdrant: $url calls its copy of shard $id of $name active, another peer does not; not saved from it"
          continue
        fi
        snapshot_shard "$url" "$name" "$id" "$dir/shard-$id.snapshot" ||
          log "qdrant: shard $id of $name could not be saved from $url; trying another copy"
      done < <(paste -d' ' <(printf '%s\n' "$ids") <(printf '%s\n' "$states"))
    done
    for id in $(for url in $qdrant_urls; do
      printf '%s' "${views[$url]}" | json result local_shards '*' shard_id
      printf '%s' "${views[$url]}" | json result remote_shards '*' shard_id
    done | sort -un); do
      [ -e "$dir/shard-$id.snapshot" ] || {
        echo "backup: qdrant: shard $id of collection $name has no active copy that could be saved ($qdrant_urls); no backup is kept without it" >&2
        return 1
      }
    done
  done < <(printf '%s' "$listing" | sort -u)
  # Each file leaves the work directory once archived: the backup takes
  # the archive's space and one shard's more, not twice the archive's.
  tar --remove-files -C "$work" -cf "$1" .
  rm -rf "$work"
}

# tar writes to the pipe, not to the file: with -z, tar's own child opens
# the archive, and when tar fails at once that child could create it after
# the failed backup's cleanup ran. Both sides here are this shell's, which
# waits for them.
backup_models() {
  local dir=${MODELS_DIR:-/models}
  [ -d "$dir" ] || { echo "backup: models: $dir does not exist" >&2; return 1; }
  tar -C "$dir" -cf - . | gzip -6 > "$1"
}

extension() {
  case $1 in
    postgres) echo dump ;;
    redis) echo rdb ;;
    qdrant) echo tar ;;
    models) echo tar.gz ;;
    *) echo "backup: unknown kind $1; use postgres, redis, qdrant or models" >&2; return 1 ;;
  esac
}

# report_success KIND FILE writes KIND's last success for the node
# exporter's textfile collector, when $METRICS_DIR is set: whole, or not at
# all (the collector reads only *.prom).
report_success() {
  [ -n "${METRICS_DIR:-}" ] || return 0
  mkdir -p "$METRICS_DIR"
  local tmp="$METRICS_DIR/.backup-$1.tmp.$$"
  {
    echo "# HELP nextflow_backup_last_success_timestamp_seconds Unix time of the last successful backup, by kind"
    echo "# TYPE nextflow_backup_last_success_timestamp_seconds gauge"
    echo "nextflow_backup_last_success_timestamp_seconds{kind=\"$1\"} $(date +%s)"
    echo "# HELP nextflow_backup_last_size_bytes size of the last successful backup, by kind"
    echo "# TYPE nextflow_backup_last_size_bytes gauge"
    echo "nextflow_backup_last_size_bytes{kind=\"$1\"} $(stat -c %s "$2")"
  } > "$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$METRICS_DIR/backup-$1.prom"
}

backup_once() {
  local kind=$1 ext dir stamp final partial
  ext=$(extension "$kind")
  dir="$backup_dir/$kind"
  mkdir -p "$dir"
  # One backup of a kind at a time (a manual run beside the schedule): the
  # lock is the open descriptor, released when this (sub)shell exits.
  exec 9>>"$dir/.lock"
  flock -n 9 || { echo "backup: another $kind backup is running in $dir" >&2; return 1; }
  # A backup killed outright (kill -9, a lost node) ran no trap: its partial
  # file, or a checksum whose file never got its name, is no backup.
  find "$dir" -maxdepth 1 -name ".partial-$kind-*" -exec rm -rf {} +
  local sum
  for sum in "$dir/$kind"-*.sha256; do
    [ -e "$sum" ] && [ ! -e "${sum%.sha256}" ] && rm -f "$sum"
  done
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  final="$dir/$kind-$stamp.$ext"
  partial="$dir/.partial-$kind-$stamp.$ext"
  # Whatever ends this backup (a failing command exits under set -e, which
  # runs no RETURN trap), the partial file and its work directory go.
  # The paths are fixed into the trap now: it runs after this function's
  # locals are gone.
  # shellcheck disable=SC2064 # expanded now, on purpose
  trap "rm -rf $(printf '%q ' "$partial" "$partial.d")" EXIT
  "backup_$kind" "$partial"
  (cd "$dir" && sha256sum "$(basename "$partial")" | sed "s/\.partial-//" > "$(basename "$final").sha256")
  mv "$partial" "$final"
  log "$kind: wrote $final ($(stat -c %s "$final") bytes)"
  report_success "$kind" "$final"
  find "$dir" -maxdepth 1 -name "$kind-*" -mtime +"$((retention_days - 1))" -print -delete | sed 's/^/backup: expired /'
}

# run_scheduled KIND makes one scheduled backup: any failing command fails
# it (as `backup.sh KIND` does), it is logged, and the schedule goes on.
# backup_once runs in a subshell that is not a condition: called as one
# (`backup_once || log`), bash would ignore set -e inside it, and a failed
# dump would be renamed, checksummed and reported as the newest backup.
run_scheduled() {
  local rc
  set +e
  (
    set -e
    backup_once "$1"
  )
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || log "$1: FAILED (exit $rc); no backup was kept; the next run is tomorrow"
}

seconds_until() {
  local now target
  now=$(date +%s)
  target=$(date -u -d "today $1" +%s)
  if [ "$target" -le "$now" ]; then target=$(date -u -d "tomorrow $1" +%s); fi
  echo $((target - now))
}

case ${1:-} in
  schedule)
    kind=${2:?usage: backup.sh schedule KIND}
    extension "$kind" >/dev/null
    # The service's PID 1: bash ignores SIGTERM there unless it handles it,
    # and the engine would kill it after its grace period instead. The wait
    # runs in the background so that the handler runs at once.
    trap 'log "$kind: stopped"; exit 0' TERM INT
    while true; do
      wait_s=$(seconds_until "$backup_time")
      log "$kind: next backup in ${wait_s}s at $backup_time"
      sleep "$wait_s" &
      wait $!
      run_scheduled "$kind"
    done
    ;;
  postgres|redis|qdrant|models)
    backup_once "$1"
    ;;
  *)
    echo "usage: backup.sh postgres|redis|qdrant|models | backup.sh schedule KIND" >&2
    exit 2
    ;;
esac
