# Stand-in for nginx:1.27.3-bookworm (nginxinc/docker-nginx mainline/debian):
# master as root, workers as nginx 101:101; bash, curl and envsubst present,
# wget absent; /docker-entrypoint.sh runs /docker-entrypoint.d/*.sh when the
# first argument is nginx; STOPSIGNAL SIGQUIT. The server is Debian's nginx 1.22.
FROM nfx-standin/base:bookworm
RUN usermod -u 2101 redis && groupmod -g 2101 prometheus \
 && groupadd -r -g 101 nginx && useradd -r -u 101 -g 101 -d /nonexistent -s /bin/false nginx \
 && rm -f /usr/bin/wget /etc/nginx/sites-enabled/default && mkdir -p /docker-entrypoint.d /var/cache/nginx \
 && sed -i 's/^user .*/user nginx;/' /etc/nginx/nginx.conf && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /docker-entrypoint.sh
COPY nginx-resolve.sh /usr/local/bin/nginx-resolve.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
