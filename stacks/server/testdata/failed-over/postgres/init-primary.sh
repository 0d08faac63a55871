#!/bin/bash
# Runs once, when the primary's data directory is first initialised
# (/docker-entrypoint-initdb.d): creates the replication user and the
# replica's physical slot. The password is read from the secret file inside
# psql, so it is on no command line.
set -euo pipefail
password_file=${REPLICATION_PASSWORD_FILE:-/run/secrets/replication_password}
[ -r "$password_file" ] || { echo "init-primary: cannot read $password_file" >&2; exit 1; }
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
\set replication_password \`cat "$password_file"\`
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'replication_password';
SELECT pg_create_physical_replication_slot('replica_1');
SQL
echo "init-primary: created role replicator and slot replica_1"
