# Stand-in for nginx/nginx-prometheus-exporter:1.4.0 (its Dockerfile at
# v1.4.0, FROM scratch): no shell, USER 1001:1001, ENTRYPOINT
# /usr/bin/nginx-prometheus-exporter. The exporter is Debian's (0.11).
FROM nfx-standin/base:bookworm
RUN ln -s /usr/bin/prometheus-nginx-exporter /usr/bin/nginx-prometheus-exporter
RUN ["/bin/rm", "-f", "/bin/bash", "/bin/sh", "/bin/dash", "/usr/bin/curl", "/usr/bin/wget"]
USER 1001:1001
EXPOSE 9113
ENTRYPOINT ["/usr/bin/nginx-prometheus-exporter"]
