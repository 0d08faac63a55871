# Stand-in for cloudflare/cloudflared:2025.4.0 (its Dockerfile at 2025.4.0 on
# gcr.io/distroless/base-debian12:nonroot): no shell and no tools at all,
# USER nonroot (65532:65532), ENTRYPOINT ["cloudflared", "--no-autoupdate"],
# CMD ["version"]. cloudflared is the stand-in program (test/standin/cloudflared.go).
FROM scratch
COPY standin /usr/local/bin/cloudflared
COPY distroless-passwd /etc/passwd
COPY distroless-group /etc/group
ENV PATH=/usr/local/bin:/usr/bin:/bin
USER 65532:65532
ENTRYPOINT ["cloudflared", "--no-autoupdate"]
CMD ["version"]
