# Stand-in for grafana/grafana:11.4.0 (grafana/grafana Dockerfile of the v11
# layout on alpine: USER 472, group 0, WORKDIR /usr/share/grafana, EXPOSE
# 3000, ENTRYPOINT /run.sh, which turns each GF_*__FILE variable into the
# file's content and execs grafana server; GF_PATHS_* as below; bash and
# busybox wget, no curl). `grafana` is the stand-in program
# (test/standin/grafana.go).
FROM nfx-standin/base:bookworm
ENV GF_PATHS_CONFIG=/etc/grafana/grafana.ini GF_PATHS_DATA=/var/lib/grafana GF_PATHS_HOME=/usr/share/grafana \
    GF_PATHS_LOGS=/var/log/grafana GF_PATHS_PLUGINS=/var/lib/grafana/plugins GF_PATHS_PROVISIONING=/etc/grafana/provisioning
COPY standin /usr/share/grafana/bin/grafana
COPY grafana-run.sh /run.sh
RUN useradd --system --uid 472 --gid 0 --no-create-home grafana && \
    mkdir -p /etc/grafana/provisioning/datasources /etc/grafana/provisioning/dashboards /var/log/grafana /var/lib/grafana/plugins && \
    touch /etc/grafana/grafana.ini && chown -R 472:0 /var/lib/grafana /var/log/grafana /etc/grafana/provisioning && \
    chmod -R 777 /var/lib/grafana /var/log/grafana /etc/grafana/provisioning && chmod 755 /run.sh
RUN ["/bin/rm", "-f", "/usr/bin/curl"]
WORKDIR /usr/share/grafana
EXPOSE 3000
USER 472
ENTRYPOINT ["/run.sh"]
