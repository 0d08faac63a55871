#!/bin/bash
# Fails PostgreSQL over to the replica: promotes it, checks that it accepts
# writes, then re-points the CRM's writes (and reads) at it. Run it where
# psql reaches the replica, for example in the replica's container:
#   docker exec -it $(docker ps -qf name=nextflow_postgres-replica) /failover.sh
set -euo pipefail
host=${REPLICA_HOST:-postgres-replica}
port=${REPLICA_PORT:-5432}
user=${PGUSER:-nextflow}
db=${PGDATABASE:-nextflow}
password_file=${POSTGRES_PASSWORD_FILE:-/run/secrets/postgres_password}
stack=${STACK:-nextflow}
# REPOINT=none skips the `docker service update` of the CRM.
repoint=${REPOINT:-docker}

PGPASSWORD=$(cat "$password_file")
export PGPASSWORD
q() { psql -h "$host" -p "$port" -U "$user" -d "$db" -v ON_ERROR_STOP=1 -tAc "$1"; }

if [ "$(q 'SELECT pg_is_in_recovery()')" != "t" ]; then
  echo "failover: $host:$port is not a replica in recovery; nothing to promote" >&2
  exit 1
fi
echo "failover: promoting $host:$port"
if [ "$(q 'SELECT pg_promote(true, 60)')" != "t" ]; then
  echo "failover: promotion did not finish within 60 s" >&2
  exit 1
fi
if [ "$(q 'SELECT pg_is_in_recovery()')" != "f" ]; then
  echo "failover: $host:$port is still in recovery" >&2
  exit 1
fi
q "CREATE TABLE IF NOT EXISTS nfx_failover_check (at timestamptz); INSERT INTO nfx_failover_check VALUES (now());" >/dev/null
echo "failover: $host:$port is the primary and accepts writes"

if [ "$repoint" = docker ]; then
  docker service update --detach=false \
    --env-add DATABASE_HOST="$host" --env-add DATABASE_READ_HOST="$host" "${stack}_crm"
  echo "failover: the CRM now writes to $host"
fi
cat <<NEXT
failover: next steps
  1. Keep the old primary stopped: docker service scale ${stack}_postgres-primary=0
  2. Rebuild it as the new replica: empty its volume, swap the nextflow.postgres node labels,
     and redeploy the stack; it clones the new primary with pg_basebackup on start.
NEXT
