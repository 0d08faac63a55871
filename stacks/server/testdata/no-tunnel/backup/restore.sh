#!/bin/bash
# Restores one NextFlow backup after checking its SHA-256.
#   restore.sh postgres FILE [DATABASE]   pg_restore into DATABASE (default nextflow)
#   restore.sh redis FILE                 prints how to put the RDB file in place
#   restore.sh qdrant FILE                uploads each collection snapshot to Qdrant
#   restore.sh models FILE                unpacks the models into $MODELS_DIR
set -euo pipefail
kind=${1:?usage: restore.sh KIND FILE}
file=${2:?usage: restore.sh KIND FILE}

(cd "$(dirname "$file")" && sha256sum --check --status "$(basename "$file").sha256") || {
  echo "restore: $file does not match its checksum; not restoring it" >&2
  exit 1
}
echo "restore: $file matches its checksum"

case $kind in
  postgres)
    db=${3:-${PGDATABASE:-nextflow}}
    PGPASSWORD=$(cat "${POSTGRES_PASSWORD_FILE:-/run/secrets/postgres_password}")
    export PGPASSWORD
    pg_restore --clean --if-exists --no-owner --exit-on-error \
      -h "${PGHOST:-postgres-primary}" -p "${PGPORT:-5432}" \
      -U "${PGUSER:-nextflow}" -d "$db" "$file"
    echo "restore: restored $file into $db"
    ;;
  redis)
    cat <<STEPS
restore: to restore Redis from $file:
  1. docker service scale nextflow_redis-replica=0 nextflow_redis-primary=0
  2. copy $file to the primary's volume as /data/dump.rdb and remove /data/appendonlydir
  3. docker service scale nextflow_redis-primary=1 nextflow_redis-replica=1
STEPS
    ;;
  qdrant)
    url=${QDRANT_URL:-http://qdrant-1:6333}
    work=$(mktemp -d)
    tar -C "$work" -xf "$file"
    for snap in "$work"/*.snapshot; do
      [ -e "$snap" ] || continue
      name=$(basename "$snap" .snapshot)
      curl -fsS -X POST "$url/collections/$name/snapshots/upload?priority=snapshot" -F "snapshot=@$snap" >/dev/null
      echo "restore: restored collection $name"
    done
    rm -rf "$work"
    ;;
  models)
    mkdir -p "${MODELS_DIR:-/models}"
    tar -C "${MODELS_DIR:-/models}" -xzf "$file"
    echo "restore: unpacked models into ${MODELS_DIR:-/models}"
    ;;
  *)
    echo "restore: unknown kind $kind" >&2
    exit 2
    ;;
esac
