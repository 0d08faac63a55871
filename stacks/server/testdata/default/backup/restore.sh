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

# qmeta asks for a small answer, which comes within QDRANT_TIMEOUT seconds
# or not at all; qcurl moves a snapshot, or waits while a peer makes or
# recovers one, and gives up when nothing moves for QDRANT_STALL seconds. A
# peer that takes a connection and never answers would otherwise hold the
# backup's lock for ever.
# Both send Qdrant's API key from its secret's file as a header curl reads
# from a descriptor (-H @FILE), never on a command line.
qmeta() { curl -fsS -H @<(qkey) --connect-timeout 10 --max-time "${QDRANT_TIMEOUT:-120}" "$@"; }
qcurl() { curl -fsS -H @<(qkey) --connect-timeout 10 --speed-limit 1 --speed-time "${QDRANT_STALL:-1800}" "$@"; }
qdrant_key=${QDRANT_API_KEY_FILE:-/run/secrets/qdrant_api_key}
qkey() {
  local k
  if ! k=$(cat "$qdrant_key") || [ -z "$k" ]; then
    echo "qdrant: no API key in $qdrant_key" >&2
    return 1
  fi
  printf 'api-key: %s\n' "$k"
}

# json [--raw|--keys] STEP... prints the values at a path of the JSON
# document on stdin, one a line: a STEP is an object's key, an array's
# index, or * for every member. Strings print unquoted (escapes decoded)
# unless --raw; objects and arrays as they are; --keys prints the keys of
# the objects at the path, as JSON strings. The images the scripts run in
# have awk but no jq, and Qdrant answers in compact JSON.
json() {
  local raw=0
  case ${1:-} in
    --raw) raw=1; shift ;;
    --keys) raw=2; shift ;;
  esac
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
      if (k > np && raw != 2) { out(substr(s, i, vend(i) - i)); return }
      c = substr(s, i, 1)
      if (c != "{" && c != "[") return
      for (j = ws(i + 1); j <= n && index("}]", substr(s, j, 1)) == 0; idx++) {
        key = idx + 0 ""
        if (c == "{") {
          e = vend(j); key = substr(s, j + 1, e - j - 2)
          if (k > np) print substr(s, j, e - j)
          j = ws(ws(e) + 1)
        }
        if (k > np) { j = ws(vend(j)); if (substr(s, j, 1) == ",") j = ws(j + 1); continue }
        e = vend(j)
        if (p[k] == "*" || p[k] == key) walk(j, k + 1)
        j = ws(e)
        if (substr(s, j, 1) == ",") j = ws(j + 1)
      }
    }
    function out(v) {
      if (raw == 0 && substr(v, 1, 1) == "\"") v = unquote(v)
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

# unjson VAR RAW sets VAR to the JSON string RAW decoded, as it is: a
# collection's name may hold a newline, even a trailing one, which a
# command substitution would drop.
unjson() {
  local v
  v=$(printf '%s' "$2" | json; printf x)
  v=${v%x}
  printf -v "$1" '%s' "${v%$'\n'}"
}

# qdrant_any PATH prints PATH's answer from the first peer that gives one.
qdrant_any() {
  local url
  for url in $qdrant_urls; do
    qmeta "$url$1" && return 0
  done
  echo "qdrant: no peer answers $1 ($qdrant_urls)" >&2
  return 1
}

# collection_code URL NAME prints the HTTP status the peer at URL gives
# for the collection (200, 404), or nothing when it does not answer.
collection_code() {
  local code
  code=$(curl -sS -H @<(qkey) -o /dev/null --connect-timeout 10 --max-time "${QDRANT_TIMEOUT:-120}" -w '%{http_code}' \
    "$1/collections/$(urlenc "$2")" 2>/dev/null || true)
  case $code in 000 | "") ;; *) echo "$code" ;; esac
}

# collection_status NAME prints the HTTP status of the collection from the
# first peer that answers (200, or 404 when there is no such collection).
collection_status() {
  local url code
  for url in $qdrant_urls; do
    code=$(collection_code "$url" "$1")
    [ -n "$code" ] || continue
    echo "$code"
    return 0
  done
}

# shard_ids NAME prints the ids of every shard of the collection, local and
# remote, as the first peer that answers knows them.
shard_ids() {
  local info
  info=$(qdrant_any "/collections/$(urlenc "$1")/cluster")
  { printf '%s' "$info" | json result local_shards '*' shard_id
    printf '%s' "$info" | json result remote_shards '*' shard_id; } | sort -un
}

# settled NAME waits, up to QDRANT_SETTLE seconds, until every peer calls
# every copy of every shard of the collection active and no transfer runs:
# a copy still being made or filled is not one to restore onto, and the
# copies a recovery marks dead are filled after the upload has returned.
settled() {
  local url info deadline=$((SECONDS + ${QDRANT_SETTLE:-600})) busy
  while :; do
    busy="no peer answering"
    for url in $qdrant_urls; do
      info=$(qmeta "$url/collections/$(urlenc "$1")/cluster" 2>/dev/null) || continue
      [ "$busy" != "no peer answering" ] || busy=""
      if printf '%s' "$info" | json result local_shards '*' state | grep -qvx Active ||
        printf '%s' "$info" | json result remote_shards '*' state | grep -qvx Active ||
        [ -n "$(printf '%s' "$info" | json --raw result shard_transfers '*')" ]; then
        busy=$url
      fi
    done
    [ -n "$busy" ] || return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "restore: collection $1 has copies that are not active, or transfers, after ${QDRANT_SETTLE:-600}s ($busy: see /collections/$(urlenc "$1")/cluster)" >&2
      return 1
    fi
    sleep "${QDRANT_POLL:-2}"
  done
}

# holders NAME SHARD prints the address of every peer that holds a copy of
# the shard.
holders() {
  local url found=""
  for url in $qdrant_urls; do
    if qmeta "$url/collections/$(urlenc "$1")/cluster" | json result local_shards '*' shard_id | grep -qx "$2"; then
      echo "$url"
      found=1
    fi
  done
  [ -n "$found" ] || { echo "restore: no peer holds shard $2 of collection $1 ($qdrant_urls)" >&2; return 1; }
}

# fits NAME DIR reports, on stderr, why the collection on the cluster cannot
# take the archive's shards: other shards, or other vectors (a snapshot
# loaded into other vectors fails, and the copy it replaced is gone).
fits() {
  local info have want k
  want=$(find "$2" -name 'shard-*.snapshot' | sed 's/.*shard-\([0-9]*\)\.snapshot$/\1/' | sort -n | tr '\n' ' ')
  have=$(shard_ids "$1" | tr '\n' ' ')
  if [ "$have" != "$want" ]; then
    echo "restore: collection $1 has shards ${have:-none}on the cluster and ${want}in $file" >&2
    return 1
  fi
  info=$(qdrant_any "/collections/$(urlenc "$1")")
  for k in vectors sparse_vectors; do
    if [ "$(printf '%s' "$info" | json --raw result config params "$k")" != "$(json --raw params "$k" < "$2/config.json")" ]; then
      echo "restore: collection $1 has other $k on the cluster than in $file" >&2
      return 1
    fi
  done
}

# create_collection NAME DIR creates the collection as the backup found it:
# its vectors, shards, copies and consistency, its index, optimizer, WAL,
# quantization and strict-mode settings, then its payload indexes.
create_collection() {
  local body="" k v enc entry
  enc=$(urlenc "$1")
  for k in vectors sparse_vectors shard_number replication_factor write_consistency_factor on_disk_payload; do
    v=$(json --raw params "$k" < "$2/config.json")
    if [ -n "$v" ] && [ "$v" != null ]; then body+="${body:+,}\"$k\":$v"; fi
  done
  # GET names it optimizer_config, PUT optimizers_config.
  for k in hnsw_config:hnsw_config optimizer_config:optimizers_config wal_config:wal_config quantization_config:quantization_config strict_mode_config:strict_mode_config; do
    v=$(json --raw "${k%%:*}" < "$2/config.json")
    if [ -n "$v" ] && [ "$v" != null ]; then body+=",\"${k#*:}\":$v"; fi
  done
  qdrant_send PUT "/collections/$enc" "{$body}"
  # Each field's key and entry side by side: a key can hold spaces, dots
  # and quotes (Qdrant quotes such a field's path), which no path step can.
  while IFS=$'\t' read -r k entry; do
    [ -n "$k" ] || continue
    v=$(printf '%s' "$entry" | json --raw params)
    [ -n "$v" ] || v=$(printf '%s' "$entry" | json --raw data_type)
    qdrant_send PUT "/collections/$enc/index?wait=true" "{\"field_name\":$k,\"field_schema\":$v}"
  done < <(paste <(json --keys < "$2/payload_schema.json") <(json --raw '*' < "$2/payload_schema.json"))
}

# qdrant_send METHOD PATH BODY sends a JSON body to the first peer that
# takes it, and says Qdrant's answer when none does.
qdrant_send() {
  local url out
  for url in $qdrant_urls; do
    out=$(curl -sS -H @<(qkey) --connect-timeout 10 --max-time "${QDRANT_TIMEOUT:-120}" -X "$1" -H 'Content-Type: application/json' \
      --data-binary "$3" -w '\n%{http_code}' "$url$2" 2>&1) || continue
    [ "${out##*$'\n'}" = 200 ] && return 0
    echo "restore: $1 $2: ${out%$'\n'*}" >&2
    return 1
  done
  echo "restore: no peer answers $1 $2 ($qdrant_urls)" >&2
  return 1
}

# restore_qdrant recovers every copy of every shard of every collection in
# the archive from the shard's snapshot, on every peer that holds one. Every
# collection is checked against the cluster before anything is uploaded,
# and again just before its own upload; the restore ends when every copy is
# active.
restore_qdrant() {
  local dir name n snap id url code sum hs
  qdrant_work=$(mktemp -d)
  trap 'rm -rf "$qdrant_work"' EXIT
  tar -C "$qdrant_work" -xf "$file"
  local legacy=""
  for snap in "$qdrant_work"/*.snapshot; do [ -e "$snap" ] && legacy=1; done
  if [ -n "$legacy" ]; then
    # An archive of collection snapshots, as nfx made them before it saved
    # shards, all from the first peer: each holds that peer's shards only.
    echo "restore: $file holds one peer's collection snapshots: shards that peer did not hold are not in it" >&2
    for snap in "$qdrant_work"/*.snapshot; do
      name=$(basename "$snap" .snapshot)
      # curl -F reads ; and , in a file's name as its own syntax.
      mv "$snap" "$qdrant_work/upload.bin"
      qcurl -X POST -F "snapshot=@$qdrant_work/upload.bin" \
        "${qdrant_urls%% *}/collections/$(urlenc "$name")/snapshots/upload?priority=snapshot&wait=true" >/dev/null
      settled "$name"
      echo "restore: restored collection $name"
    done
    return 0
  fi
  # Every copy of every shard is written: every peer must answer.
  for url in $qdrant_urls; do
    qmeta "$url/collections" >/dev/null || {
      echo "restore: $url does not answer; a restore writes every copy of every shard, so it needs every peer; nothing was restored" >&2
      exit 1
    }
  done
  for dir in "$qdrant_work"/c*/; do
    [ -d "$dir" ] || continue
    unjson name "$(cat "$dir/name.json")"
    if [ "$(json params sharding_method < "$dir/config.json")" = custom ]; then
      echo "restore: collection $name uses custom sharding: its shards belong to shard keys (in cluster.json), which this restore does not recreate; nothing was restored" >&2
      exit 1
    fi
    code=$(collection_status "$name")
    case $code in
      200) fits "$name" "$dir" || {
          printf '%s\n' "restore: nothing was restored. Delete the collection (curl -H @<(printf 'api-key: %s\\n' \"\$(cat $qdrant_key)\") -X DELETE ${qdrant_urls%% *}/collections/$(urlenc "$name")) and run the restore again: it creates it as it was" >&2
          exit 1
        } ;;
      404) ;;
      *)
        echo "restore: Qdrant answers ${code:-nothing} for collection $name ($qdrant_urls); nothing was restored" >&2
        exit 1 ;;
    esac
  done
  for dir in "$qdrant_work"/c*/; do
    [ -d "$dir" ] || continue
    unjson name "$(cat "$dir/name.json")"
    if [ "$(collection_status "$name")" = 404 ]; then
      create_collection "$name" "$dir"
      echo "restore: created collection $name"
    fi
    # Made since the check, or just created: it must take these shards.
    fits "$name" "$dir" || { echo "restore: collection $name changed since the check; not restored" >&2; exit 1; }
    settled "$name"
    n=0
    for snap in "$dir"/shard-*.snapshot; do
      [ -e "$snap" ] || continue
      id=${snap##*/shard-}
      id=${id%.snapshot}
      sum=$(sha256sum < "$snap" | cut -d' ' -f1)
      # Every copy from the snapshot itself, each recovered before its
      # upload returns (no_sync): with priority=snapshot only the copy
      # uploaded to is, and the others are marked dead and refilled after
      # the upload has returned, which no answer shows has happened.
      hs=$(holders "$name" "$id")
      for url in $hs; do
        qcurl -X POST -F "snapshot=@$snap" \
          "$url/collections/$(urlenc "$name")/shards/$id/snapshots/upload?priority=no_sync&wait=true&checksum=$sum" >/dev/null
      done
      n=$((n + 1))
    done
    settled "$name"
    echo "restore: restored collection $name ($n shards, every copy from the backup, every copy active)"
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
  1. ask a Sentinel which instance is the primary now (after a failover, redis-replica), on a node that
     runs one: docker exec "\$(docker ps -q -f name=nextflow_redis-sentinel | head -n1)" sh -c \\
       'REDISCLI_AUTH="\$(cat /run/secrets/redis_password)" redis-cli -p 26379 sentinel get-master-addr-by-name nextflow'
  2. docker service scale nextflow_redis-replica=0 nextflow_redis-primary=0
  3. copy $file to the volume of the instance step 1 named, as /data/dump.rdb, and remove its
     /data/appendonlydir; empty the other instance's volume (it resyncs from the primary). Restored into
     the other, the data would be dropped: each instance starts in the role the Sentinels give it.
  4. docker service scale nextflow_redis-primary=1 nextflow_redis-replica=1
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
