# Stand-in for prom/alertmanager:v0.27.0: USER nobody, WORKDIR /alertmanager,
# ENTRYPOINT /bin/alertmanager; busybox sh and wget, no bash or curl.
FROM nfx-standin/base:bookworm
RUN ln -s /usr/bin/prometheus-alertmanager /bin/alertmanager && mkdir -p /alertmanager /etc/alertmanager && chown nobody:nogroup /alertmanager
RUN ["/bin/rm", "-f", "/bin/bash", "/usr/bin/curl"]
USER nobody
WORKDIR /alertmanager
EXPOSE 9093
ENTRYPOINT ["/bin/alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]
