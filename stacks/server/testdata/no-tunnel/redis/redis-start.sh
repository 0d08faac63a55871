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

umask 077
mkdir -p "$conf_dir"
password=$(cat "$password_file")
conf="$conf_dir/redis.conf"
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
