# Stand-in for nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04
# (NVIDIA/dcgm-exporter docker/Dockerfile.ubuntu22.04): root, bash, no
# wget, curl or nc; ENTRYPOINT the dcgm-exporter-entrypoint.sh that execs
# /usr/bin/dcgm-exporter, listening on :9400. The exporter is the stand-in
# program (test/standin/dcgm.go): there is no GPU here.
FROM nfx-standin/base:bookworm
COPY standin /usr/bin/dcgm-exporter
RUN mkdir -p /usr/local/dcgm && printf '#!/bin/bash\nexec /usr/bin/dcgm-exporter "$@"\n' > /usr/local/dcgm/dcgm-exporter-entrypoint.sh \
 && chmod +x /usr/local/dcgm/dcgm-exporter-entrypoint.sh
RUN ["/bin/rm", "-f", "/usr/bin/curl", "/usr/bin/wget"]
EXPOSE 9400
ENTRYPOINT ["/usr/local/dcgm/dcgm-exporter-entrypoint.sh"]
