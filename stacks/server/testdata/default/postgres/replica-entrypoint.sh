#!/bin/bash
# Starts a PostgreSQL server of the pair that is not the image's own
# primary: the follower (a streaming replica of $PRIMARY_HOST) or, after a
# failover (postgres.failedOver), the promoted writer.
#
# The follower clones the writer with pg_basebackup -R when its data
# directory is empty. When it holds a former writer's data (no
# standby.signal: the old primary after a failover), it sets that data aside
# in its volume and clones, but only once the writer's timeline is past its
# own, which proves the writer was promoted after this data was last
# written; otherwise it refuses to start, so that two writers never run.
# The replication password reaches libpq through a password file, never a
# command line or the data directory.
set -euo pipefail
: "${PGDATA:?PGDATA must be set}"
role=${NFX_POSTGRES_ROLE:-follower}
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

if [ "$role" = writer ]; then
  # The promoted replica: it serves its own data, and never starts empty
  # (an initdb here would be a writer without the database).
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "postgres: $PGDATA is empty, and postgres.failedOver makes this server the writer; set postgres.failedOver back to false, or restore a backup into it" >&2
    exit 1
  fi
  if [ -e "$PGDATA/standby.signal" ]; then
    echo "postgres: this server is still a standby: run failover.sh in its container to promote it" >&2
  fi
  exec postgres "$@"
fi

# .pgpass fields escape ':' and '\'.
escaped=$(sed -e 's/\\/\\\\/g' -e 's/:/\\:/g' "$password_file")
umask 077
printf '%s:%s:*:replicator:%s\n' "$primary_host" "$primary_port" "$escaped" > "$PGPASSFILE"

wait_for_writer() {
  local tries=0
  until pg_isready -q -h "$primary_host" -p "$primary_port"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 150 ]; then
      echo "replica: primary $primary_host:$primary_port not ready" >&2
      exit 1
    fi
    sleep 2
  done
}

# A clone that did not finish (the task killed, the node lost) leaves part
# of a data directory: never start on it, clone again.
cloning="$PGDATA.cloning"
if [ -e "$cloning" ]; then
  echo "replica: the last clone of $primary_host did not finish; starting it over"
  find "$PGDATA" -mindepth 1 -delete
  rm -f "$cloning"
fi

# control FIELD prints one field of this data directory's control file.
control() { pg_controldata "$PGDATA" | sed -n "s/^$1: *//p"; }

if [ -s "$PGDATA/PG_VERSION" ] && [ ! -e "$PGDATA/standby.signal" ]; then
  wait_for_writer
  ours_id=$(control 'Database system identifier')
  ours_tli=$(control "Latest checkpoint's TimeLineID")
  ident=$(psql -X -w -tA -c IDENTIFY_SYSTEM \
    "host=$primary_host port=$primary_port user=replicator dbname=replication replication=true") || {
    echo "replica: cannot ask $primary_host:$primary_port for its timeline (IDENTIFY_SYSTEM as replicator); not touching $PGDATA" >&2
    exit 1
  }
  IFS='|' read -r theirs_id theirs_tli _ <<<"$ident"
  if [ "$theirs_id" != "$ours_id" ]; then
    echo "replica: $PGDATA holds another database cluster (system $ours_id) than $primary_host's ($theirs_id); not touching it: move it out of the volume to clone $primary_host" >&2
    exit 1
  fi
  if ! [ "${theirs_tli:-0}" -gt "${ours_tli:-0}" ] 2>/dev/null; then
    echo "replica: $PGDATA is a writer's data (timeline $ours_tli) and $primary_host has not been promoted past it (timeline ${theirs_tli:-unknown}); refusing to start a second writer: run failover.sh on $primary_host first" >&2
    exit 1
  fi
  aside="$PGDATA.before-failover-$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$PGDATA" "$aside"
  mkdir -m 700 "$PGDATA"
  echo "replica: $primary_host was promoted (timeline $theirs_tli, this data's $ours_tli): the data from before the failover is kept in $aside; cloning $primary_host"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "replica: empty data directory, cloning $primary_host:$primary_port"
  wait_for_writer
  # The writer's slot keeps the WAL this replica has not received. A
  # promoted replica has none yet: create it when missing.
  pg_receivewal -h "$primary_host" -p "$primary_port" -U replicator -w \
    --create-slot --if-not-exists -S replica_1
  : > "$cloning"
  # The clone runs as long as the data takes: its pid tells the health
  # check that the replica is busy cloning, not broken, so that Swarm does
  # not kill it after the check's start period and start it over, forever.
  pg_basebackup -h "$primary_host" -p "$primary_port" -U replicator -w \
    -D "$PGDATA" -R -X stream -S replica_1 -c fast --progress &
  echo $! > /tmp/nfx-basebackup.pid
  wait $!
  rm -f /tmp/nfx-basebackup.pid
  chmod 700 "$PGDATA"
  rm -f "$cloning"
fi
exec postgres "$@"
