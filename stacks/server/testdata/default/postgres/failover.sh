#!/bin/bash
# Fails PostgreSQL over to the streaming replica (postgres-replica): promotes
# it and checks that it accepts writes. It runs where psql reaches the
# replica, which is in the replica's own container (the postgres image has
# psql, and no docker CLI); on the node that runs the replica's task:
#   docker exec -it $(docker ps -q -f label=com.docker.swarm.service.name=nextflow_postgres-replica) failover.sh
# It then prints what to run on a Swarm manager: fence the old writer,
# record the failover in the stack's configuration, deploy.
set -euo pipefail
host=${REPLICA_HOST:-postgres-replica}
port=${REPLICA_PORT:-5432}
user=${PGUSER:-nextflow}
db=${PGDATABASE:-nextflow}
password_file=${POSTGRES_PASSWORD_FILE:-/run/secrets/postgres_password}
stack=${STACK:-nextflow}
old=postgres-primary

PGPASSWORD=$(cat "$password_file")
export PGPASSWORD
q() { psql -X -h "$host" -p "$port" -U "$user" -d "$db" -v ON_ERROR_STOP=1 -tAc "$1"; }

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
  1. Fence the old writer, so that nothing writes to it again:
       docker service scale ${stack}_${old}=0
  2. Record the failover in the stack's configuration, render, deploy:
       pulumi config set --path nextflow:postgres.failedOver true -s server
       nfx up --stage server
       docker stack deploy -c out/server/stack.yaml ${stack}
     The CRM then writes to and reads from $host; ${old} starts again as its
     streaming replica: its data from before the failover is set aside in its
     own volume (pgdata.before-failover-*), then it clones $host.
  Do not swap the nextflow.postgres node labels: each service keeps its node and
  its volume; the configuration moves the role.
NEXT
