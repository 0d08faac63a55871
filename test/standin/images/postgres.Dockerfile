# Stand-in for postgres:16.6-bookworm (docker-library/postgres 16/bookworm):
# runs as root until its entrypoint drops to postgres (999:999) with gosu;
# PGDATA /var/lib/postgresql/data; STOPSIGNAL SIGINT; the entrypoint's
# contract (POSTGRES_PASSWORD[_FILE], POSTGRES_USER, POSTGRES_DB,
# POSTGRES_INITDB_ARGS, /docker-entrypoint-initdb.d) is reproduced by
# postgres-entrypoint.sh; listen_addresses = '*' in the sample configuration,
# as its Dockerfile sets it. The server is Debian's PostgreSQL 15, not 16.6.
FROM nfx-standin/base:bookworm
RUN groupmod -g 999 postgres && usermod -u 999 -g 999 postgres \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && rm -rf /var/lib/postgresql/15 /etc/postgresql && mkdir -p /docker-entrypoint-initdb.d \
 && mkdir -p /var/lib/postgresql/data && chown postgres:postgres /var/lib/postgresql/data && chmod 1777 /var/lib/postgresql/data \
 && rm -f /usr/bin/wget /usr/bin/curl \
 && sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" /usr/share/postgresql/15/postgresql.conf.sample \
 && grep -F "listen_addresses = '*'" /usr/share/postgresql/15/postgresql.conf.sample
ENV PATH=$PATH:/usr/lib/postgresql/15/bin PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["docker-entrypoint.sh"]
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
