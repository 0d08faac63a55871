# Stand-in for prom/prometheus:v2.55.1 (prometheus/prometheus Dockerfile at
# v2.55.1 on quay.io/prometheus/busybox): USER nobody (65534), WORKDIR
# /prometheus, ENTRYPOINT /bin/prometheus; sh and wget, no bash or curl.
# The server is Debian's Prometheus 2.42.
FROM nfx-standin/base:bookworm
RUN mkdir -p /prometheus /etc/prometheus && chown nobody:nogroup /prometheus /etc/prometheus
RUN ["/bin/rm", "-f", "/bin/bash", "/usr/bin/curl"]
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
