#!/bin/sh
# docker-nginx's /docker-entrypoint.sh contract: with nginx as the first
# argument, run each executable /docker-entrypoint.d/*.sh, then exec.
set -e
if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
  for f in /docker-entrypoint.d/*.sh; do
    [ -x "$f" ] && "$f"
  done
  # Debian's nginx 1.22 has no `resolve`: nginx-resolve.sh reproduces it.
  if grep -qE '^[[:space:]]*server[[:space:]].* resolve;' /etc/nginx/nginx.conf; then
    exec /usr/local/bin/nginx-resolve.sh "$@"
  fi
fi
exec "$@"
