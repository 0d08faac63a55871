#!/usr/bin/env bash
# Migrates SIZE_MB (default 1024) of generated CRM data between two local
# PostgreSQL servers three ways, side by side in one run, and prints the
# throughput and the write downtime of each:
#   plain    pg_dump -Fc | pg_restore, the baseline (no freeze, no checks), first
#            and again last (plain2): the target's state (its checkpoints, the
#            page cache) drifts over the run, and the two show by how much
#   dump     nfx migrate run in dump mode (freeze, pg_dump -Fc, pg_restore -j, verification)
#   online   nfx migrate run in online mode (logical replication, then a short freeze),
#            three times: with no writes; with a client updating the small accounts
#            table throughout; with one inserting into the 1 GB contacts table (a
#            table written during the window is summed again in the freeze, in the
#            key ranges its changes touched: the target runs logical WAL, as a
#            stage with nextflow:migration.mode online does, for its own watch)
# The rehearsal step is skipped (no --scratch-db) so that each figure is the
# migration itself. Usage: scripts/bench-migrate.sh [SIZE_MB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size_mb=${1:-${SIZE_MB:-1024}}
bin=$(dirname "$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
export PATH="$bin:$PATH"
(cd "$root" && go build -o bin/nfx ./cmd/nfx)

work=$(mktemp -d /tmp/nfx-bench-migrate.XXXXXX)
chown postgres "$work"
pw=Bench-pg-1
printf '%s' "$pw" > "$work/pw"
chown postgres "$work/pw"
ports=()
cleanup() {
  for d in "$work"/pg*/; do runuser -u postgres -- pg_ctl -D "$d" -m immediate -w stop >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
start() { # name port extra-options
  runuser -u postgres -- initdb -D "$work/$1" -U nextflow --pwfile "$work/pw" --auth=scram-sha-256 >/dev/null
  runuser -u postgres -- pg_ctl -D "$work/$1" -l "$work/$1.log" -w -t 120 \
    -o "-c port=$2 -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work -c max_wal_size=4GB $3" start >/dev/null
  ports+=("$2")
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sp=$(free_port); tp=$(free_port)
start pgsource "$sp" "-c wal_level=logical"
start pgtarget "$tp" "-c wal_level=logical"
export PGPASSWORD=$pw PGHOST=127.0.0.1 PGUSER=nextflow
psql -p "$sp" -d postgres -qc "CREATE DATABASE nextflow"
for db in plain plain2 dump online online_a online_c; do psql -p "$tp" -d postgres -qc "CREATE DATABASE $db"; done

echo "generating $size_mb MB of CRM data..." >&2
rows=$(( size_mb * 1024 * 1024 / 700 ))
psql -p "$sp" -d nextflow -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, profile jsonb NOT NULL);
CREATE TABLE contacts (id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES accounts(id), email text, notes text, data jsonb);
INSERT INTO accounts (name, profile) SELECT 'acct ' || g, jsonb_build_object('tier', g % 5) FROM generate_series(1, 10000) g;
INSERT INTO contacts (account_id, email, notes, data)
  SELECT 1 + g % 10000, 'c' || g || '@example.com', repeat(md5(g::text), 18), jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 9))
  FROM generate_series(1, $rows) g;
CREATE INDEX ON contacts (account_id);
VACUUM ANALYZE;
SQL
bytes=$(psql -p "$sp" -d nextflow -Atc "SELECT pg_database_size('nextflow')")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }')

project="$work/project"
mkdir -p "$project"
cp "$root/Pulumi.yaml" "$root/Pulumi.server.yaml" "$project/"

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
now() { date +%s.%N; }

# Each way starts from the same state: the WAL a way before wrote flushed by
# a checkpoint on both servers, not by one that lands in the middle of it.
settle() { psql -p "$sp" -d postgres -qc CHECKPOINT; psql -p "$tp" -d postgres -qc CHECKPOINT; }
plain() { # database
  local t0 t1
  settle
  t0=$(now)
  pg_dump -p "$sp" -d nextflow -Fc | pg_restore -p "$tp" -d "$1" --no-owner --no-privileges
  psql -p "$tp" -d "$1" -qc ANALYZE
  t1=$(now)
  secs "$t0" "$t1"
}
plain=$(plain plain)

# writer TABLE: a client writing into the source until the freeze ends its
# session (then psql stops at the first read-only error).
writer() {
  local sql
  case $1 in
    accounts) sql="UPDATE accounts SET profile = profile || '{\"seen\": 1}' WHERE id = 1 + (random() * 9999)::int;" ;;
    contacts) sql="INSERT INTO contacts (account_id, email, notes, data) VALUES (1, 'w@example.com', repeat('w', 500), '{}');" ;;
  esac
  while :; do printf '%s\n' "$sql"; sleep 0.005; done | psql -p "$sp" -d nextflow -q -v ON_ERROR_STOP=1 >/dev/null 2>&1 || true
}

results=()
for run in dump online online_a online_c; do
  mode=${run%%_*}
  printf 'config:\n  nextflow:stage: laptop\n  nextflow:redis: {data: cache}\n  nextflow:migration: {mode: %s, maxFreezeSeconds: 600}\n' "$mode" > "$project/Pulumi.laptop.yaml"
  rm -rf "$project/.nfx/migrations"
  psql -p "$sp" -d postgres -qc "ALTER DATABASE nextflow RESET default_transaction_read_only"
  wpid=
  case $run in
    online_a) writer accounts & wpid=$! ;;
    online_c) writer contacts & wpid=$! ;;
  esac
  settle
  t0=$(now)
  (cd "$project" && NFX_SOURCE_DB_PASSWORD=$pw NFX_TARGET_DB_PASSWORD=$pw "$root/bin/nfx" migrate run --from laptop --to server \
    --source-db "postgres://nextflow@127.0.0.1:$sp/nextflow?sslmode=disable" --target-db "postgres://nextflow@127.0.0.1:$tp/$run?sslmode=disable" \
    --cutover-cmd true >"$work/$run.out" 2>&1) || { cat "$work/$run.out" >&2; exit 1; }
  t1=$(now)
  [ -z "$wpid" ] || { pkill -P "$wpid" 2>/dev/null || true; wait "$wpid" 2>/dev/null || true; }
  read -r down verify pre re copy < <(cd "$project" && "$root/bin/nfx" migrate report --from laptop --to server --json |
    python3 -c 'import json,sys; j=json.load(sys.stdin); st={s["id"]: s["seconds"] for s in j["steps"]}; v=j["verification"]
print("%.2f %.2f %s %s %s" % (j["downtimeSeconds"], st["verify"], "%.1f" % st["postgres.preverify"] if "postgres.preverify" in st else "-", ("%d+%dr" % (v.get("rechecked", 0), v.get("rangeChecked", 0))) if "postgres.preverify" in st else "all",
  "%.1f" % (st["postgres.dump"] + st.get("postgres.restore", 0)) if "postgres.dump" in st else "-"))')
  results+=("$run $(secs "$t0" "$t1") $down $verify $pre $re $copy")
done

psql -p "$sp" -d postgres -qc "ALTER DATABASE nextflow RESET default_transaction_read_only"
plain2=$(plain plain2)

printf '\nsource database: %s MB (%s rows of contacts)\n\n' "$mb" "$rows"
printf '%-9s %8s %7s %15s %13s %15s %14s %10s\n' way seconds MB/s "write downtime" "of it verify" "pre-verified" "tables summed" "of it copy"
for p in "plain $plain" "plain2 $plain2"; do
  awk -v mb="$mb" -v s="${p#* }" -v m="${p%% *}" 'BEGIN { printf "%-9s %8.1f %7.1f %15s %13s %15s %14s %10s\n", m, s, mb / s, "(no freeze)", "-", "-", "-", "-" }'
done
for r in "${results[@]}"; do
  read -r run s down verify pre re copy <<<"$r"
  awk -v mb="$mb" -v s="$s" -v m="$run" -v d="$down" -v v="$verify" -v p="$pre" -v re="$re" -v c="$copy" \
    'BEGIN { printf "%-9s %8.1f %7.1f %13s s %11s s %13s s %14s %8s s\n", m, s, mb / s, d, v, p, re, c }'
done
echo "(online_a: a client updating accounts throughout; online_c: one inserting into contacts; \"pre-verified\" is the"
echo " step that sums every table with the source writable; \"tables summed\" those summed again whole in the freeze,"
echo " +Nr those summed in the key ranges written since;"
echo " \"of it copy\" dump mode's dump and restore; plain2 is plain run again at the end)"
