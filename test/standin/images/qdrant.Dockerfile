# Stand-in for qdrant/qdrant:v1.13.2 (qdrant/qdrant Dockerfile at v1.13.2 on
# debian:12-slim): root (USER_ID 0), WORKDIR /qdrant, CMD ["./entrypoint.sh"]
# which execs ./qdrant; bash present, no curl, wget or nc. ./qdrant is the
# stand-in program (test/standin/qdrant.go).
FROM nfx-standin/base:bookworm
COPY standin /qdrant/qdrant
COPY qdrant-entrypoint.sh /qdrant/entrypoint.sh
RUN ["/bin/rm", "-f", "/usr/bin/curl", "/usr/bin/wget"]
WORKDIR /qdrant
EXPOSE 6333 6334
CMD ["./entrypoint.sh"]
