#!/bin/bash
# Fails PostgreSQL over to the replica: promotes it and checks that it
# accepts writes. It runs where psql reaches the replica, which is in the
# replica's own container (the postgres image has psql, and no docker CLI);
# on the node that runs the replica's task:
#   docker exec -it $(docker ps -q -f label=com.docker.swarm.service.name=nextflow_postgres-replica) failover.sh
# It then prints the command that re-points the CRM, to run on a manager.
set -euo pipefail
host=${REPLICA_HOST:-postgres-replica}
port=${REPLICA_PORT:-5432}
user=${PGUSER:-nextflow}
db=${PGDATABASE:-nextflow}
password_file=${POSTGRES_PASSWORD_FILE:-/run/secrets/postgres_password}
stack=${STACK:-nextflow}

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

cat <<NEXT
failover: next steps, on a Swarm manager
  1. Re-point the CRM's writes and reads at the promoted server:
     docker service update --detach=false \
       --env-add DATABASE_HOST=$host --env-add DATABASE_URL=postgres://$user@$host:$port/$db \
       --env-add DATABASE_READ_HOST=$host --env-add DATABASE_READ_URL=postgres://$user@$host:$port/$db ${stack}_crm
  2. Keep the old primary stopped: docker service scale ${stack}_postgres-primary=0
  3. The stack now runs on this one server, whose data is in the replica's volume on its node.
     Do not swap the nextflow.postgres node labels: postgres-primary would start on its own,
     older volume. The README's "After a PostgreSQL failover" says how to get a second copy back.
NEXT
