# Stand-in for the NextFlow CRM image (ghcr.io/nextflow-crm/crm): the user's
# own image, whose contract is the environment nfx's README gives it. It
# runs as an unprivileged user (10001) so that every secret it reads must be
# readable by a non-root user; wget and curl present for its health check.
FROM nfx-standin/base:bookworm
COPY standin /usr/local/bin/crm
USER 10001:10001
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/crm"]
