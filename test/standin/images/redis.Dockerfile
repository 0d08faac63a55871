# Stand-in for redis:7.4.2-bookworm (docker-library/redis 7.4/debian): redis
# 999:999, WORKDIR /data, the entrypoint's contract reproduced by
# redis-entrypoint.sh. The server is Debian's Redis 7.0.
FROM nfx-standin/base:bookworm
RUN groupmod -g 999 redis && usermod -u 999 -g 999 redis \
 && mkdir -p /data && chown redis:redis /data && rm -f /usr/bin/wget /usr/bin/curl
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
