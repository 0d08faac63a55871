#!/usr/bin/env bash
# Installs, from Debian's packages, the outside programs the tests run for
# real: nginx, Redis and Sentinel, PostgreSQL, shellcheck, the Docker engine
# (the engine tests, `docker stack config`), debootstrap, headless Chromium (for the report), Prometheus,
# Alertmanager and the exporters (for the monitoring), and make. Installs only what is missing.
set -euo pipefail
need=()
command -v make >/dev/null || need+=(make)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-sentinel >/dev/null || need+=(redis-sentinel)
command -v shellcheck >/dev/null || need+=(shellcheck)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
# gitlab-ci-local copies the repository with rsync; npm installs it.
command -v rsync >/dev/null || need+=(rsync)
command -v npm >/dev/null || need+=(npm)
command -v git >/dev/null || need+=(git)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The Docker engine (dockerd, containerd, runc and its client) the engine
# tests run the stages on; a docker client alone is not enough.
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || need+=(docker.io)
# The stand-in images' Debian base (scripts/engine.sh).
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
# etcd serves the Kubernetes control plane of the cloud stage's tests (bin/kube).
command -v etcd >/dev/null || need+=(etcd-server)
command -v chromium >/dev/null || need+=(chromium)
# Prometheus (with promtool), Alertmanager (amtool) and the exporters the
# monitoring test scrapes for real.
command -v promtool >/dev/null || need+=(prometheus)
command -v amtool >/dev/null || need+=(prometheus-alertmanager)
for e in node postgres redis nginx blackbox; do
  command -v "prometheus-$e-exporter" >/dev/null || need+=("prometheus-$e-exporter")
done
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing: ${need[*]}; install them with apt-get as root" >&2
    exit 1
  fi
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages' own services are not started here; the tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
pg_bins=(/usr/lib/postgresql/*/bin)
echo "test dependencies: nginx $(/usr/sbin/nginx -v 2>&1 | cut -d/ -f2), $(redis-server --version | cut -d' ' -f3), shellcheck $(shellcheck --version | sed -n 2p | cut -d' ' -f2), $("${pg_bins[-1]}/postgres" --version), $(docker --version)"
