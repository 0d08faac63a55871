#!/bin/bash
# Starts the PostgreSQL streaming replica. When its data directory is empty
# it first clones the primary with pg_basebackup -R, which also writes the
# standby settings. The replication password reaches libpq through a
# password file, never a command line or the data directory.
set -euo pipefail
: "${PGDATA:?PGDATA must be set}"
primary_host=${PRIMARY_HOST:-postgres-primary}
primary_port=${PRIMARY_PORT:-5432}
password_file=${REPLICATION_PASSWORD_FILE:-/run/secrets/replication_password}
export PGPASSFILE=${PGPASSFILE:-/tmp/replication.pgpass}

if [ "$(id -u)" = 0 ]; then
  # In the container: own the data directory, then run as postgres.
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  install -o postgres -g postgres -m 600 /dev/null "$PGPASSFILE"
  exec gosu postgres "$0" "$@"
fi

# .pgpass fields escape ':' and '\'.
escaped=$(sed -e 's/\\/\\\\/g' -e 's/:/\\:/g' "$password_file")
umask 077
printf '%s:%s:*:replicator:%s\n' "$primary_host" "$primary_port" "$escaped" > "$PGPASSFILE"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "replica: empty data directory, cloning $primary_host:$primary_port"
  tries=0
  until pg_isready -q -h "$primary_host" -p "$primary_port"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 150 ]; then
      echo "replica: primary $primary_host:$primary_port not ready" >&2
      exit 1
    fi
    sleep 2
  done
  # The clone runs as long as the data takes: its pid tells the health
  # check that the replica is busy cloning, not broken, so that Swarm does
  # not kill it after the check's start period and start it over, forever.
  pg_basebackup -h "$primary_host" -p "$primary_port" -U replicator -w \
    -D "$PGDATA" -R -X stream -S replica_1 -c fast --progress &
  echo $! > /tmp/nfx-basebackup.pid
  wait $!
  rm -f /tmp/nfx-basebackup.pid
  chmod 700 "$PGDATA"
fi
exec postgres "$@"
