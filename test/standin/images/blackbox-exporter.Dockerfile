# Stand-in for prom/blackbox-exporter:v0.25.0: no USER line (root),
# ENTRYPOINT /bin/blackbox_exporter; busybox sh and wget, no bash or curl.
FROM nfx-standin/base:bookworm
RUN ln -s /usr/bin/prometheus-blackbox-exporter /bin/blackbox_exporter
RUN ["/bin/rm", "-f", "/bin/bash", "/usr/bin/curl"]
EXPOSE 9115
ENTRYPOINT ["/bin/blackbox_exporter"]
CMD ["--config.file=/etc/blackbox_exporter/config.yml"]
