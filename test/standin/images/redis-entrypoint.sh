#!/bin/sh
# The contract of docker-library/redis's docker-entrypoint.sh that nfx relies
# on, reproduced for the stand-in image: a first argument starting with "-"
# or ending in .conf means redis-server; run as root with redis-server or
# redis-sentinel, it makes the working directory the redis user's, sets
# umask 0077 and re-runs itself as redis with gosu.
set -e
case "$1" in -*|*.conf) set -- redis-server "$@" ;; esac
if { [ "$1" = redis-server ] || [ "$1" = redis-sentinel ]; } && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec gosu redis "$0" "$@"
fi
um=$(umask)
[ "$um" = 0022 ] && umask 0077
exec "$@"
