#!/bin/sh
# Starts a Redis Sentinel watching NextFlow's Redis primary. Three of them
# elect a new primary when it fails (quorum 2). Sentinel rewrites its
# own configuration as it learns, so it lives on the sentinel's volume and is
# only created the first time.
set -eu
port=${SENTINEL_PORT:-26379}
conf=${SENTINEL_CONF:-/data/sentinel.conf}
password_file=${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}
primary_host=${REDIS_PRIMARY_HOST:-redis-primary}
primary_port=${REDIS_PRIMARY_PORT:-6379}

umask 077
# A service's name resolves only while it has a running task (DNS round
# robin): wait for the primary's, rather than fail and restart.
i=0
until getent hosts "$primary_host" >/dev/null; do
  i=$((i + 1))
  [ "$i" -le 90 ] || { echo "sentinel-start: $primary_host does not resolve" >&2; exit 1; }
  sleep 2
done
if [ ! -s "$conf" ]; then
  password=$(cat "$password_file")
  mkdir -p "$(dirname "$conf")"
  {
    echo "port $port"
    echo "bind ${SENTINEL_BIND:-* -::*}"
    echo "protected-mode no"
    echo "sentinel resolve-hostnames yes"
    # Report and keep the instances' names, never their addresses.
    echo "sentinel announce-hostnames yes"
    echo "sentinel monitor nextflow $primary_host $primary_port 2"
    printf 'sentinel auth-pass nextflow "%s"\n' "$password"
    printf 'requirepass "%s"\n' "$password"
    echo "sentinel down-after-milliseconds nextflow ${SENTINEL_DOWN_AFTER_MS:-5000}"
    echo "sentinel failover-timeout nextflow ${SENTINEL_FAILOVER_TIMEOUT_MS:-60000}"
    echo "sentinel parallel-syncs nextflow 1"
  } > "$conf"
fi
if [ "$(id -u)" = 0 ]; then
  chown redis:redis "$conf" "$(dirname "$conf")"
  exec docker-entrypoint.sh redis-server "$conf" --sentinel
fi
exec redis-server "$conf" --sentinel
