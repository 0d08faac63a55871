#!/bin/bash
# Run once as root on each GPU node of the Swarm: makes the NVIDIA runtime
# Docker's default and advertises the node's GPUs to Swarm as generic
# resources (NVIDIA-GPU), which the AI services reserve. Swarm does not accept
# Compose `devices` reservations; this is how a service gets a GPU there.
# Needs the NVIDIA driver and nvidia-container-toolkit installed.
set -euo pipefail
daemon_json=${DAEMON_JSON:-/etc/docker/daemon.json}
toolkit_toml=${TOOLKIT_TOML:-/etc/nvidia-container-runtime/config.toml}

mapfile -t uuids < <(nvidia-smi --query-gpu=uuid --format=csv,noheader)
if [ "${#uuids[@]}" -eq 0 ]; then
  echo "configure-gpu-node: nvidia-smi found no GPU" >&2
  exit 1
fi
resources=""
for u in "${uuids[@]}"; do
  resources="$resources${resources:+, }\"NVIDIA-GPU=$u\""
done
if [ -s "$daemon_json" ]; then
  cp "$daemon_json" "$daemon_json.bak"
  echo "configure-gpu-node: kept the old configuration as $daemon_json.bak; merge any settings of yours back"
fi
cat > "$daemon_json" <<JSON
{
  "default-runtime": "nvidia",
  "runtimes": {
    "nvidia": { "path": "nvidia-container-runtime", "runtimeArgs": [] }
  },
  "node-generic-resources": [ $resources ]
}
JSON
# Let the runtime hand Swarm's reserved GPU to the container.
sed -i 's/^#\{0,1\}[[:space:]]*swarm-resource = .*/swarm-resource = "DOCKER_RESOURCE_NVIDIA-GPU"/' "$toolkit_toml"
grep -q '^swarm-resource' "$toolkit_toml" || sed -i '1i swarm-resource = "DOCKER_RESOURCE_NVIDIA-GPU"' "$toolkit_toml"
systemctl restart docker
echo "configure-gpu-node: advertised ${#uuids[@]} GPU(s); label the node with:"
echo "  docker node update --label-add nextflow.gpu=true \$(docker info -f '{{.Swarm.NodeID}}')"
