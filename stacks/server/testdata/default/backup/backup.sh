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

backup_qdrant() {
  local url=${QDRANT_URL:-http://qdrant-1:6333} work body names name snap
  # Beside the archive: removed with it when the backup fails.
  work="$1.d"
  mkdir -p "$work"
  # The listing first, on its own: a Qdrant that does not answer fails the
  # backup instead of leaving an empty archive.
  body=$(curl -fsS "$url/collections")
  names=$(printf '%s' "$body" | grep -o '"name":"[^"]*"' | cut -d'"' -f4 || true)
  for name in $names; do
    body=$(curl -fsS -X POST "$url/collections/$name/snapshots?wait=true")
    snap=$(printf '%s' "$body" | grep -o '"name":"[^"]*"' | head -n1 | cut -d'"' -f4)
    [ -n "$snap" ] || { echo "backup: qdrant: no snapshot of $name" >&2; return 1; }
    curl -fsS -o "$work/$name.snapshot" "$url/collections/$name/snapshots/$snap"
    curl -fsS -X DELETE "$url/collections/$name/snapshots/$snap" >/dev/null
  done
  tar -C "$work" -cf "$1" .
  rm -rf "$work"
}

backup_models() {
  tar -C "${MODELS_DIR:-/models}" -czf "$1" .
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
