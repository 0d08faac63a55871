# Stand-in for quay.io/prometheuscommunity/postgres-exporter:v0.16.0: USER
# nobody, ENTRYPOINT /bin/postgres_exporter; busybox sh and wget, no bash or curl.
# Debian's exporter is 0.11: the flags and variables nfx uses exist in both.
FROM nfx-standin/base:bookworm
RUN ln -s /usr/bin/prometheus-postgres-exporter /bin/postgres_exporter
RUN ["/bin/rm", "-f", "/bin/bash", "/usr/bin/curl"]
USER nobody
EXPOSE 9187
ENTRYPOINT ["/bin/postgres_exporter"]
