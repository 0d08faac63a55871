#!/bin/bash
# The stand-in's nginx is Debian's 1.22, which refuses `resolve` on an
# upstream server; the pinned nginx 1.27.3 accepts it (release-1.27.3,
# src/http/ngx_http_upstream.c: parsed with a shared memory zone, the name
# left unresolved at start, u.no_resolve) and then keeps each server's
# peers equal to the addresses its name resolves to, through `resolver`,
# starting even when a name resolves to nothing. This reproduces that
# contract for the stand-in, and nothing more: it renders a 1.22
# configuration from the mounted one, each `server NAME:PORT ... resolve;`
# expanded to NAME's current addresses (a `down` peer when it has none),
# the resolver lines dropped, starts nginx on it, and reloads nginx when
# the addresses change (every 2 s, inside `valid=5s` of the real one).
set -euo pipefail
src=/etc/nginx/nginx.conf
out=/tmp/nginx.standin.conf

render() {
  local line ind host port rest a addrs
  while IFS= read -r line; do
    if [[ $line =~ ^([[:space:]]*)server[[:space:]]+([^:[:space:]]+):([0-9]+)(.*)[[:space:]]resolve\;$ ]]; then
      ind=${BASH_REMATCH[1]} host=${BASH_REMATCH[2]} port=${BASH_REMATCH[3]} rest=${BASH_REMATCH[4]}
      addrs=$(getent ahostsv4 "$host" | awk '{print $1}' | sort -u || true)
      if [ -z "$addrs" ]; then
        echo "${ind}server 127.0.0.1:9 down;"
      fi
      for a in $addrs; do echo "${ind}server $a:$port$rest;"; done
    elif [[ $line =~ ^[[:space:]]*resolver(_timeout)?[[:space:]] ]]; then
      continue
    else
      printf '%s\n' "$line"
    fi
  done < "$src"
}

render > "$out"
"$@" -c "$out" &
nginx=$!
trap 'kill -QUIT "$nginx" 2>/dev/null; wait "$nginx"; exit 0' TERM INT QUIT
while kill -0 "$nginx" 2>/dev/null; do
  sleep 2 & wait $!
  render > "$out.next"
  if ! cmp -s "$out" "$out.next"; then
    mv "$out.next" "$out"
    nginx -c "$out" -s reload || true
  fi
done
wait "$nginx"
