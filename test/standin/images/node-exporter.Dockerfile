# Stand-in for prom/node-exporter:v1.8.2: USER nobody, ENTRYPOINT
# /bin/node_exporter; busybox sh and wget, no bash or curl.
FROM nfx-standin/base:bookworm
RUN ln -s /usr/bin/prometheus-node-exporter /bin/node_exporter
RUN ["/bin/rm", "-f", "/bin/bash", "/usr/bin/curl"]
USER nobody
EXPOSE 9100
ENTRYPOINT ["/bin/node_exporter"]
