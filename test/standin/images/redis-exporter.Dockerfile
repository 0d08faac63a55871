# Stand-in for oliver006/redis_exporter:v1.67.0-alpine: USER 59000:59000,
# ENTRYPOINT /redis_exporter; alpine's busybox sh and wget, no bash or curl.
FROM nfx-standin/base:bookworm
RUN ln -s /usr/bin/prometheus-redis-exporter /redis_exporter
RUN ["/bin/rm", "-f", "/bin/bash", "/usr/bin/curl"]
USER 59000:59000
EXPOSE 9121
ENTRYPOINT ["/redis_exporter"]
