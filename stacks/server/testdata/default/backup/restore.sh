#!/bin/bash
# Restores one NextFlow backup after checking its SHA-256.
#   restore.sh postgres FILE [DATABASE]   pg_restore into DATABASE (default nextflow)
#   restore.sh redis FILE                 prints how to put the RDB file in place
#   restore.sh qdrant FILE                recovers every shard of every collection in Qdrant
#   restore.sh models FILE                unpacks the models into $MODELS_DIR
set -euo pipefail
kind=${1:?usage: restore.sh KIND FILE}
file=${2:?usage: restore.sh KIND FILE}

(cd "$(dirname "$file")" && sha256sum --check --status "$(basename "$file").sha256") || {
  echo "restore: $file does not match its checksum; not restoring it" >&2
  exit 1
}
echo "restore: $file matches its checksum"

# The backup and restore scripts' Qdrant client.
qdrant_urls=${QDRANT_URLS:-http://qdrant-1:6333 http://qdrant-2:6333 http://qdrant-3:6333}

# json [--raw] STEP... prints the values at a path of the JSON document on
# stdin, one a line: a STEP is an object's key, an array's index, or * for
# every member. Strings print unquoted (escapes decoded) unless --raw;
# objects and arrays as they are. The images the scripts run in have awk but no jq, and Qdrant
# answers in compact JSON.
json() {
  local raw=0
  if [ "${1:-}" = --raw ]; then raw=1; shift; fi
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
      if (k > np) { out(substr(s, i, vend(i) - i)); return }
      c = substr(s, i, 1)
      if (c != "{" && c != "[") return
      for (j = ws(i + 1); j <= n && index("}]", substr(s, j, 1)) == 0; idx++) {
        key = idx ""
        if (c == "{") { e = vend(j); key = substr(s, j + 1, e - j - 2); j = ws(ws(e) + 1) }
        e = vend(j)
        if (p[k] == "*" || p[k] == key) walk(j, k + 1)
        j = ws(e)
        if (substr(s, j, 1) == ",") j = ws(j + 1)
      }
    }
    function out(v) {
      if (!raw && substr(v, 1, 1) == "\"") v = unquote(v)
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

# qdrant_any PATH prints PATH's answer from the first peer that gives one.
qdrant_any() {
  local url
  for url in $qdrant_urls; do
    curl -fsS "$url$1" && return 0
  done
  echo "qdrant: no peer answers $1 ($qdrant_urls)" >&2
  return 1
}

# shard_ids NAME prints the ids of every shard of the collection, local and
# remote, as the first peer that answers knows them.
shard_ids() {
  local info
  info=$(qdrant_any "/collections/$(urlenc "$1")/cluster")
  { printf '%s' "$info" | json result local_shards '*' shard_id
    printf '%s' "$info" | json result remote_shards '*' shard_id; } | sort -un
}

# collection_status NAME prints the HTTP status of the collection from the
# first peer that answers (200, or 404 when there is no such collection).
collection_status() {
  local url code
  for url in $qdrant_urls; do
    code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/collections/$(urlenc "$1")" 2>/dev/null || true)
    case $code in 000 | "") continue ;; esac
    echo "$code"
    return 0
  done
}

# peer_with NAME SHARD prints the address of a peer that holds a copy of the
# shard, waiting for a collection just created to place its shards.
peer_with() {
  local url _
  for _ in $(seq 60); do
    for url in $qdrant_urls; do
      curl -fsS "$url/collections/$(urlenc "$1")/cluster" 2>/dev/null | json result local_shards '*' shard_id | grep -qx "$2" && { echo "$url"; return 0; }
    done
    sleep 1
  done
  echo "restore: no peer holds shard $2 of collection $1 ($qdrant_urls)" >&2
  return 1
}

# create_collection NAME PARAMS creates the collection as the backup found it:
# its vectors, shards, copies and consistency.
create_collection() {
  local body="" k v
  for k in vectors sparse_vectors shard_number replication_factor write_consistency_factor on_disk_payload; do
    v=$(json --raw "$k" < "$2")
    if [ -n "$v" ] && [ "$v" != null ]; then body+="${body:+,}\"$k\":$v"; fi
  done
  for url in $qdrant_urls; do
    curl -fsS -X PUT -H 'Content-Type: application/json' --data-binary "{$body}" "$url/collections/$(urlenc "$1")" >/dev/null && return 0
  done
  echo "restore: could not create collection $1 ($qdrant_urls)" >&2
  return 1
}

# restore_qdrant recovers every shard of every collection in the archive on a
# peer that holds a copy of it, the snapshot the source of truth: Qdrant marks
# the shard's other copies dead and copies it to them. Every collection is
# checked against the cluster before anything is uploaded.
restore_qdrant() {
  local dir name want have code n snap id url
  qdrant_work=$(mktemp -d)
  trap 'rm -rf "$qdrant_work"' EXIT
  tar -C "$qdrant_work" -xf "$file"
  local legacy=""
  for snap in "$qdrant_work"/*.snapshot; do [ -e "$snap" ] && legacy=1; done
  if [ -n "$legacy" ]; then
    # An archive of collection snapshots, as nfx made them before it saved
    # shards: each holds the shards of the one peer that made it.
    echo "restore: $file holds one peer's collection snapshots: shards that peer did not hold are not in it" >&2
    for snap in "$qdrant_work"/*.snapshot; do
      name=$(basename "$snap" .snapshot)
      curl -fsS -X POST -F "snapshot=@$snap" \
        "${qdrant_urls%% *}/collections/$(urlenc "$name")/snapshots/upload?priority=snapshot" >/dev/null
      echo "restore: restored collection $name"
    done
    return 0
  fi
  for dir in "$qdrant_work"/c*/; do
    [ -d "$dir" ] || continue
    name=$(cat "$dir/name")
    want=$(find "$dir" -name 'shard-*.snapshot' | sed 's/.*shard-\([0-9]*\)\.snapshot$/\1/' | sort -n | tr '\n' ' ')
    code=$(collection_status "$name")
    case $code in
      200)
        have=$(shard_ids "$name" | tr '\n' ' ')
        [ "$have" = "$want" ] || {
          echo "restore: collection $name has shards ${have:-none}on the cluster and ${want}in $file; nothing was restored. Delete it (curl -X DELETE ${qdrant_urls%% *}/collections/$(urlenc "$name")) and run the restore again: it creates the collection as it was" >&2
          exit 1
        } ;;
      404)
        [ "$(json sharding_method < "$dir/params.json")" != custom ] || {
          echo "restore: collection $name uses custom sharding: create it and its shard keys first; nothing was restored" >&2
          exit 1
        } ;;
      *)
        echo "restore: Qdrant answers ${code:-nothing} for collection $name ($qdrant_urls); nothing was restored" >&2
        exit 1 ;;
    esac
  done
  for dir in "$qdrant_work"/c*/; do
    [ -d "$dir" ] || continue
    name=$(cat "$dir/name")
    if [ "$(collection_status "$name")" = 404 ]; then
      create_collection "$name" "$dir/params.json"
      echo "restore: created collection $name"
    fi
    n=0
    for snap in "$dir"/shard-*.snapshot; do
      [ -e "$snap" ] || continue
      id=${snap##*/shard-}
      id=${id%.snapshot}
      url=$(peer_with "$name" "$id")
      curl -fsS -X POST -F "snapshot=@$snap" \
        "$url/collections/$(urlenc "$name")/shards/$id/snapshots/upload?priority=snapshot&wait=true" >/dev/null
      n=$((n + 1))
    done
    echo "restore: restored collection $name ($n shards; Qdrant copies each to its other replicas)"
  done
}

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
    restore_qdrant
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
