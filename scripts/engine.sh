#!/usr/bin/env bash
# The real Docker engine the engine tests run the laptop and server stages on.
#
#   scripts/engine.sh tools        Compose v2 into bin/ (from the Go module proxy)
#   scripts/engine.sh run CMD...   start dockerd, build the stand-in images,
#                                  start a three-node Swarm (below), run CMD
#                                  with DOCKER_HOST and NFX_SWARM set, stop all
#
# dockerd (Debian's docker.io) runs with a data root, exec root, pidfile and
# socket of its own under bin/engine, so it neither meets nor changes another
# daemon's state; its images stay there between runs. Docker Hub is not
# reachable here: every image the stages name is a stand-in built under the
# pinned name from test/standin/images (a Debian base made by debootstrap,
# Debian's packages, and test/standin's program where no package exists).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=$root/bin/engine
compose_version=v2.40.3

. "$root/scripts/tool-cache.sh"

tools() {
  local key
  key=$(tool_key "$0" "$root/tools/engine/go.mod" "$root/tools/engine/go.sum")
  if [ ! -x "$root/bin/docker-compose" ] || ! "$root/bin/docker-compose" version 2>/dev/null | grep -q "$compose_version"; then
    if ! tool_restore compose "$key" "$root" bin/docker-compose; then
      echo "building docker compose $compose_version"
      (cd "$root/tools/engine" && go build -trimpath -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$compose_version" \
        -o "$root/bin/docker-compose" github.com/docker/compose/v2/cmd)
      tool_save compose "$key" "$root" bin/docker-compose
    fi
  fi
  "$root/bin/docker-compose" version
}

# The packages of the stand-ins' Debian base; its image tag is their hash.
packages="postgresql-15 postgresql-client-15 redis-server redis-sentinel redis-tools nginx curl wget gosu ca-certificates procps
prometheus prometheus-node-exporter prometheus-blackbox-exporter prometheus-postgres-exporter prometheus-redis-exporter
prometheus-alertmanager prometheus-nginx-exporter"

start() {
  mkdir -p "$state"
  # The exec root holds unix sockets: keep its path short.
  exec_root=/run/nfx-engine-$(printf '%s' "$state" | sha256sum | cut -c1-8)
  sock=$state/docker.sock
  if [ -f "$state/dockerd.pid" ] && kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null; then
    echo "dockerd already runs (pid $(cat "$state/dockerd.pid"))"
  else
    rm -f "$sock" "$state/dockerd.pid"
    dockerd --data-root "$state/data" --exec-root "$exec_root" --pidfile "$state/dockerd.pid" \
      -H "unix://$sock" >"$state/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
      DOCKER_HOST=unix://$sock docker version >/dev/null 2>&1 && break
      sleep 1
    done
  fi
  export DOCKER_HOST=unix://$sock
  docker version --format 'dockerd {{.Server.Version}}' || { tail -n 20 "$state/dockerd.log" >&2; exit 1; }
}

stop() {
  local pid
  pid=$(cat "$state/dockerd.pid" 2>/dev/null) || return 0
  if [ -n "${DOCKER_HOST:-}" ] && docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null | grep -q active; then
    docker swarm leave --force >/dev/null 2>&1 || true
  fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -9 "$pid" 2>/dev/null || true
}

base() {
  local tag
  tag=nfx-standin/base:bookworm-$(printf '%s' "$packages" | sha256sum | cut -c1-12)
  local cached
  cached=$(tool_cache_dir)/standin-base-${tag##*-}/base.tar
  if ! docker image inspect "$tag" >/dev/null 2>&1 && [ "${NFX_TOOLS_CACHE:-}" != off ] && [ -s "$cached" ]; then
    docker load -q -i "$cached" >/dev/null && echo "the stand-ins' Debian base: reused from $(tool_cache_dir)"
  fi
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    local fs=$state/rootfs
    rm -rf "$fs"
    echo "debootstrap: the stand-ins' Debian base"
    debootstrap --variant=minbase bookworm "$fs" http://deb.debian.org/debian >"$state/debootstrap.log" 2>&1 \
      || { tail -n 20 "$state/debootstrap.log" >&2; exit 1; }
    cp /etc/resolv.conf "$fs/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$fs/usr/sbin/policy-rc.d" && chmod +x "$fs/usr/sbin/policy-rc.d"
    chroot "$fs" env DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${packages//$'\n'/ }" \
      >>"$state/debootstrap.log" 2>&1 || { tail -n 20 "$state/debootstrap.log" >&2; exit 1; }
    rm -rf "$fs"/var/cache/apt/archives/*.deb "$fs"/var/lib/apt/lists/* "$fs"/usr/share/doc "$fs"/usr/share/man "$fs/usr/sbin/policy-rc.d"
    : >"$fs/etc/resolv.conf"
    tar -C "$fs" -c . | docker import - "$tag" >/dev/null
    rm -rf "$fs"
    docker save -o "$state/base.tar" "$tag"
    tool_save standin-base "${tag##*-}" "$state" base.tar
    rm -f "$state/base.tar"
  fi
  docker tag "$tag" nfx-standin/base:bookworm
}

# The stand-ins: pinned name, Dockerfile.
images="postgres:16.6-bookworm postgres
redis:7.4.2-bookworm redis
nginx:1.27.3-bookworm nginx
prom/prometheus:v2.55.1 prometheus
prom/alertmanager:v0.27.0 alertmanager
prom/node-exporter:v1.8.2 node-exporter
prom/blackbox-exporter:v0.25.0 blackbox-exporter
quay.io/prometheuscommunity/postgres-exporter:v0.16.0 postgres-exporter
oliver006/redis_exporter:v1.67.0-alpine redis-exporter
nginx/nginx-prometheus-exporter:1.4.0 nginx-exporter
ollama/ollama:0.5.7 ollama
qdrant/qdrant:v1.13.2 qdrant
cloudflare/cloudflared:2025.4.0 cloudflared
ghcr.io/nextflow-crm/crm:1.8.2 crm
nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04 dcgm-exporter
grafana/grafana:11.4.0 grafana"

images() {
  base
  local ctx=$state/context
  rm -rf "$ctx" && cp -r "$root/test/standin/images" "$ctx"
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$ctx/standin" ./test/standin)
  while read -r ref file; do
    DOCKER_BUILDKIT=0 docker build -q -f "$ctx/$file.Dockerfile" -t "$ref" "$ctx" >/dev/null \
      || { echo "building the stand-in $ref failed" >&2; DOCKER_BUILDKIT=0 docker build -f "$ctx/$file.Dockerfile" -t "$ref" "$ctx" >&2; exit 1; }
  done <<<"$images"
  echo "stand-in images: $(wc -l <<<"$images")"
}

# The Swarm the server stage runs on: three dockerd daemons, each in a
# network namespace of its own (10.77.0.11-13 on the bridge nfxbr0) and a
# mount namespace where / is shared, as systemd makes it on a server (so
# node-exporter's rslave bind of / works), and /run is its own (each node
# has its /var/run/docker.sock, which Prometheus's Swarm discovery mounts).
# Nodes 1 and 2 advertise one NVIDIA-GPU generic resource each, as
# gpu/configure-gpu-node.sh makes a GPU node do (there is no GPU: the AI
# services get none, and the GPU exporter is a stand-in). All three are
# managers, so the Swarm keeps its quorum when one is lost.
swarm_up() {
  local i ns dir tok gpu
  ip link show nfxbr0 >/dev/null 2>&1 || ip link add nfxbr0 type bridge
  ip addr replace 10.77.0.1/24 dev nfxbr0
  ip link set nfxbr0 up
  # dockerd's FORWARD policy is DROP: let the nodes reach each other.
  iptables -C FORWARD -i nfxbr0 -o nfxbr0 -j ACCEPT 2>/dev/null || iptables -I FORWARD -i nfxbr0 -o nfxbr0 -j ACCEPT
  local refs
  mapfile -t refs < <(cut -d' ' -f1 <<<"$images")
  for i in 1 2 3; do node_clear "$state/node$i" || exit 1; done
  swarm_space "${refs[@]}"
  for i in 1 2 3; do
    ns=nfxnode$i dir=$state/node$i
    mkdir -p "$dir"
    ip netns add "$ns" 2>/dev/null || true
    ip link show "nfxv$i" >/dev/null 2>&1 || ip link add "nfxv$i" type veth peer name eth0 netns "$ns"
    ip link set "nfxv$i" master nfxbr0 up
    ip netns exec "$ns" ip addr replace "10.77.0.1$i/24" dev eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip link set lo up
    gpu=""
    [ "$i" = 3 ] || gpu="--node-generic-resource NVIDIA-GPU=GPU-standin-$i"
    # nsenter, not `ip netns exec`, which remounts /sys without the cgroups.
    nsenter --net="/run/netns/$ns" unshare -m -u --propagation unchanged sh -c "
      hostname node$i && mount --make-rshared / && mount -t tmpfs -o mode=755 tmpfs /run &&
      exec dockerd --data-root $dir/data --exec-root /run/docker-exec --pidfile $dir/dockerd.pid \
        -H unix:///var/run/docker.sock -H unix://$dir/docker.sock $gpu" >"$dir/dockerd.log" 2>&1 &
  done
  for i in 1 2 3; do
    for _ in $(seq 1 60); do DOCKER_HOST=unix://$state/node$i/docker.sock docker version >/dev/null 2>&1 && break; sleep 1; done
  done
  # The images stream into one node at a time, with no archive on disk:
  # a daemon unpacks what it loads under its data root before it
  # registers the layers, so one load at a time needs the room of one
  # more copy, three at once of three.
  for i in 1 2 3; do
    docker save "${refs[@]}" | DOCKER_HOST=unix://$state/node$i/docker.sock docker load -q >/dev/null \
      || { echo "node$i did not load the stand-in images (see $state/node$i/dockerd.log)" >&2; exit 1; }
  done
  DOCKER_HOST=unix://$state/node1/docker.sock docker swarm init --advertise-addr 10.77.0.11 >/dev/null
  tok=$(DOCKER_HOST=unix://$state/node1/docker.sock docker swarm join-token -q manager)
  for i in 2 3; do
    DOCKER_HOST=unix://$state/node$i/docker.sock docker swarm join --token "$tok" --advertise-addr "10.77.0.1$i" 10.77.0.11:2377 >/dev/null
  done
  NFX_SWARM=""
  for i in 1 2 3; do NFX_SWARM="$NFX_SWARM unix://$state/node$i/docker.sock"; done
  export NFX_SWARM
  echo "swarm: $(DOCKER_HOST=unix://$state/node1/docker.sock docker node ls --format '{{.Hostname}}' | sort | tr '\n' ' ')"
}

# Each node holds its own copy of the stand-in images, and a load needs the
# room of one more while it runs. Say so before starting when the disk
# cannot hold them and some room to run, rather than fail half-way through a
# load with "no space left on device". The images' sizes count a layer
# shared by several once per image: the estimate errs high.
swarm_space() {
  local bytes images_mb need avail
  if ! bytes=$(docker image inspect --format '{{.Size}}' "$@" 2>/dev/null | awk '{s+=$1} END {printf "%d", s}') || [ -z "$bytes" ]; then
    echo "engine: could not size the stand-in images; not checking the free space" >&2
    return 0
  fi
  images_mb=$(( bytes / 1024 / 1024 ))
  need=$(( images_mb * 4 + 2048 ))
  avail=$(df -Pm "$state" 2>/dev/null | awk 'NR == 2 {print $4}')
  case $avail in
    '' | *[!0-9]*) echo "engine: could not read the free space under $state; not checking it" >&2; return 0 ;;
  esac
  if [ "$avail" -lt "$need" ]; then
    echo "engine: the three-node Swarm needs about $need MB free under $state (three copies of the stand-in images, at most $images_mb MB each, one more while a node loads them, and 2 GB to run); $avail MB are free." >&2
    echo "engine: free some space (other checkouts' bin/engine, 'go clean -cache') and run again." >&2
    exit 1
  fi
}

# Remove a node's directory, never through a mount a killed daemon left
# (a container's bind of / or of the NAS's backup volume would take their
# files with it): every mount under it is detached first, deepest first,
# and the removal stays on the directory's own file system.
node_clear() {
  local d
  [ -e "$1" ] || return 0
  d=$(realpath -e "$1") || return 1
  node_mounts() {
    # mountinfo escapes a space, tab, newline and backslash as octal.
    awk -v d="$d" '{ p = $5; gsub(/\\040/, " ", p); gsub(/\\011/, "\t", p); gsub(/\\012/, "\n", p); gsub(/\\134/, "\\", p)
      if (p == d || index(p, d "/") == 1) print p }' /proc/self/mountinfo | sort -r
  }
  node_mounts | while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
  if [ -n "$(node_mounts)" ]; then
    echo "engine: $d still has mounts; not removing it (umount them, then remove it)" >&2
    return 1
  fi
  rm -rf --one-file-system "$d"
}

swarm_down() {
  local i pid
  for i in 1 2 3; do
    pid=$(cat "$state/node$i/dockerd.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null || true
  done
  for i in 1 2 3; do
    # dockerd removes its pidfile when it stops.
    if pid=$(cat "$state/node$i/dockerd.pid" 2>/dev/null); then
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    ip netns del "nfxnode$i" 2>/dev/null || true
    ip link del "nfxv$i" 2>/dev/null || true
    # A node's images are loaded afresh by each run: leave no copy behind
    # (a node that cannot be cleared is said, and the rest still stops).
    node_clear "$state/node$i/data" || true
  done
  ip link del nfxbr0 2>/dev/null || true
  iptables -D FORWARD -i nfxbr0 -o nfxbr0 -j ACCEPT 2>/dev/null || true
}

case ${1:-} in
  tools) tools ;;
  run)
    shift
    start
    trap 'swarm_down; stop' EXIT
    images
    # The three-node Swarm when asked (make test, make test-swarm).
    if [ "${NFX_ENGINE_SWARM:-0}" = 1 ]; then swarm_up; fi
    "$@"
    ;;
  start) start; images; swarm_up; echo "export DOCKER_HOST=$DOCKER_HOST NFX_SWARM='$NFX_SWARM'" ;;
  stop) swarm_down; DOCKER_HOST=unix://$state/docker.sock stop ;;
  *) echo "usage: scripts/engine.sh tools | run CMD... | start | stop" >&2; exit 2 ;;
esac
