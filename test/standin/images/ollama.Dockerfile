# Stand-in for ollama/ollama:0.5.7 (ollama/ollama Dockerfile at v0.5.7, on
# ubuntu:22.04 with ca-certificates only): root, /bin/ollama, ENTRYPOINT
# ["/bin/ollama"], CMD ["serve"], OLLAMA_HOST=0.0.0.0; sh and bash, no curl,
# wget or nc. /bin/ollama is the stand-in program (test/standin/ollama.go).
FROM nfx-standin/base:bookworm
COPY standin /bin/ollama
RUN ["/bin/rm", "-f", "/usr/bin/curl", "/usr/bin/wget"]
ENV OLLAMA_HOST=0.0.0.0
EXPOSE 11434
ENTRYPOINT ["/bin/ollama"]
CMD ["serve"]
