#!/bin/sh
# Starts a Redis of NextFlow's replicated pair: "primary", or "replica" of
# the primary. The configuration, with the password Redis needs in
# plaintext (requirepass, masterauth), is written to a private file on a
# tmpfs, never to a volume or a command line.
set -eu
role=${1:?usage: redis-start.sh primary|replica}
port=${REDIS_PORT:-6379}
conf_dir=${REDIS_CONF_DIR:-/run/redis}
data_dir=${REDIS_DATA_DIR:-/data}
password_file=${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}
primary_host=${REDIS_PRIMARY_HOST:-redis-primary}
primary_port=${REDIS_PRIMARY_PORT:-6379}

case $role in
  primary) own_host=${REDIS_ANNOUNCE_HOST:-redis-primary} ;;
  *) own_host=${REDIS_ANNOUNCE_HOST:-redis-replica} ;;
esac
sentinel_host=${SENTINEL_HOST:-redis-sentinel}

# An empty data directory is a first start (read before anything is
# written, the configuration's directory may be inside it).
empty=no
[ -n "$(ls -A "$data_dir" 2>/dev/null)" ] || empty=yes
umask 077
mkdir -p "$conf_dir"
password=$(cat "$password_file")
conf="$conf_dir/redis.conf"
sentinel_port=${SENTINEL_PORT:-26379}
# The primary is whoever the Sentinels say it is: a task that starts after a
# failover (rescheduled, with a new address, or the whole stack restarted)
# joins the promoted primary instead of being a second one, or resyncing
# from the old one and dropping every write since. Every Sentinel is asked
# (each task of the service, or SENTINEL_ADDRS, host:port ...): one that
# missed the failover (restarted, or cut off while it happened) still names
# the old primary with an older configuration epoch, so the answer with the
# highest epoch wins. The start waits, at most 45 s (inside the health
# check's start period), while the Sentinels of that epoch are failing over
# (their leader says failover_in_progress: a primary that is merely down,
# o_down, may be this very task, which nobody replaces while it waits), and
# while no Sentinel answers on a volume that holds data (they start with
# the stack). Only an empty volume (the stack's first start) starts at once
# in the service's own role when no Sentinel answers; so does, with a
# warning, a start that waited its bound.
# ask prints "epoch host port flags" of the primary as one Sentinel knows it.
ask() {
  REDISCLI_AUTH="$password" timeout 3 redis-cli --no-auth-warning -h "${1%:*}" -p "${1##*:}" \
    sentinel master nextflow 2>/dev/null |
    awk 'NR % 2 == 1 { k = $0; next } { v[k] = $0 } END { if (v["ip"] != "" && v["port"] ~ /^[0-9]+$/) print v["config-epoch"] + 0, v["ip"], v["port"], v["flags"] }' || true
}
deadline=$(($(date +%s) + ${REDIS_START_WAIT:-45}))
while :; do
  # Found again each round: the Sentinels' tasks may be starting too.
  sentinels=${SENTINEL_ADDRS:-$(getent ahostsv4 "tasks.$sentinel_host" 2>/dev/null | awk -v p="$sentinel_port" '!seen[$1]++ { printf "%s:%s ", $1, p }')}
  sentinels=${sentinels:-$sentinel_host:$sentinel_port}
  answers=""
  for s in $sentinels; do
    a=$(ask "$s")
    [ -z "$a" ] || answers="$answers$a
"
  done
  best=$(printf '%s' "$answers" | awk '$1 > e || NR == 1 { e = $1; b = $0 } END { print b }')
  busy=$(printf '%s' "$answers" | awk -v e="${best%% *}" '$1 == e && $4 ~ /failover_in_progress/ { print "yes"; exit }')
  if [ -n "$best" ] && [ -z "$busy" ]; then break; fi
  if [ -z "$best" ] && [ "$empty" = yes ]; then break; fi
  why="do not answer"
  [ -z "$busy" ] || why="are failing the primary over"
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "redis-start: warning: the Sentinels still $why; starting on what is known" >&2
    break
  fi
  echo "redis-start: the Sentinels $why; waiting"
  sleep 2
done
read -r _ master master_port _ <<EOF
$best
EOF
case $master in
  '') ;;
  *)
    # The Sentinels name this instance by its service name, or by an
    # address of this task (a Sentinel that learned it before names).
    self=no
    [ "$master" = "$own_host" ] && self=yes
    case " $(hostname -I 2>/dev/null) " in *" $master "*) self=yes ;; esac
    if [ "$self" = yes ] && [ "$master_port" = "$port" ]; then
      role=primary
    else
      role=replica primary_host=$master primary_port=$master_port
    fi
    ;;
esac
known=${master:+$master:$master_port}
echo "redis-start: $own_host starts as $role (Sentinel primary: ${known:-none known})"
{
  echo "port $port"
  echo "bind ${REDIS_BIND:-* -::*}"
  echo "protected-mode no"
  echo "dir $data_dir"
  echo "appendonly yes"
  echo "appendfsync everysec"
  echo "maxmemory 805306368"
  echo "maxmemory-policy noeviction"
  echo "min-replicas-to-write 0"
  echo "replica-read-only yes"
  printf 'requirepass "%s"\n' "$password"
  printf 'masterauth "%s"\n' "$password"
  # Sentinel records this name, not the task's address, which Swarm
  # changes when it reschedules the task.
  echo "replica-announce-ip $own_host"
  if [ "$role" = replica ]; then
    echo "replicaof $primary_host $primary_port"
  fi
} > "$conf"
if [ "$(id -u)" = 0 ]; then
  chown -R redis:redis "$conf_dir"
  # The image's entrypoint drops to the redis user.
  exec docker-entrypoint.sh redis-server "$conf"
fi
exec redis-server "$conf"
