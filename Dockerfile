# iamd: a static binary on a distroless base (CA certificates, tzdata, no
# shell), running as an unprivileged user with the store on a volume.
#   docker build -t iamd .
#   docker run -v iamd-store:/var/lib/iamd -p 127.0.0.1:8080:8080 \
#     -e IAMD_HTTP_TOKEN=… -v $PWD/iamd.yaml:/etc/iamd/iamd.yaml:ro iamd
# Inside the container the daemon listens on every interface
# (IAMD_HTTP_ADDR, which overrides http.listen of any config), so the
# published port reaches it; beyond loopback it refuses to start without
# a token (IAMD_HTTP_TOKEN or http.token_file). The health check asks
# the same address.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/iamd ./cmd/iamd \
 && mkdir -p /out/var/lib/iamd /out/demo

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/iamd /usr/local/bin/iamd
# A named volume mounted on these starts with their owner: the
# nonroot user (65532) can write the store and the demo data.
COPY --from=build --chown=65532:65532 /out/var/lib/iamd /var/lib/iamd
COPY --from=build --chown=65532:65532 /out/demo /demo
COPY configs/iamd.example.yaml /etc/iamd/iamd.yaml
ENV IAMD_STORE=/var/lib/iamd \
    IAMD_HTTP_ADDR=0.0.0.0:8080
VOLUME ["/var/lib/iamd"]
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["/usr/local/bin/iamd", "health"]
ENTRYPOINT ["/usr/local/bin/iamd"]
CMD ["run", "--config", "/etc/iamd/iamd.yaml"]
