# syntax=docker/dockerfile:1
# Journey in one image: the same binary serves the embedded stack (data in
# the /var/lib/journey volume) and a scale-out replica (--events, --meta,
# --log; deploy/compose.yaml). DuckDB is C++ linked through cgo, hence
# CGO_ENABLED=1 and a glibc runtime image.
#   docker build -t journey .
#   docker run -p 8000:8000 -v journey-data:/var/lib/journey -e JOURNEY_ADMIN_KEY=... journey

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is in the context so the binary records its commit (journey version).
RUN CGO_ENABLED=1 go build -trimpath -buildvcs=auto -ldflags="-s -w" -o /out/journey ./cmd/journey \
 && /out/journey version

FROM debian:bookworm-slim
# ca-certificates: webhooks, Web Push and SMTP over TLS; tzdata: project
# time zones; curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/journey --shell /usr/sbin/nologin journey \
 && install -d -o journey -g journey -m 0750 /var/lib/journey
COPY --from=build /out/journey /usr/local/bin/journey
USER journey
WORKDIR /var/lib/journey
ENV JOURNEY_DATA_DIR=/var/lib/journey \
    JOURNEY_ADDR=0.0.0.0:8000 \
    JOURNEY_LOG_FORMAT=json
VOLUME ["/var/lib/journey"]
EXPOSE 8000
# /healthz is what the e2e tests wait for (bench.StartServer); /readyz
# also says whether the loader is behind, for routing queries.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
# SIGTERM drains: the HTTP server stops, the loader catches up (30 s at most).
STOPSIGNAL SIGTERM
ENTRYPOINT ["journey"]
CMD ["serve"]
