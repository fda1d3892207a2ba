# Rampart: a hardening sidecar for legacy Python APIs.
#
#   docker build -t rampart .
#   docker run -p 8080:8080 -p 127.0.0.1:9901:9901 rampart
#
# Public port 8080; admin on 127.0.0.1:9901 inside the container (/livez /readyz /health
# /metrics /-/reload; the HEALTHCHECK asks it). The built-in config
# (deploy/docker/rampart.yaml) proxies every path to $APP_ADDR (default 127.0.0.1:8000: the
# same pod, or `docker run --network container:<app>`) with production defaults; mount your
# own at /etc/rampart/rampart.yaml (RAMPART_CONFIG). Runs as a non-root user on a read-only
# root filesystem; only /tmp (the upgrade socket) needs to be writable.

# ---- build ----
FROM rust:1.95-bookworm AS build
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Everything the workspace names: the crate, its examples (bench/) and the vendored Pingora
# crates (workspace members and [patch.crates-io]); tests/docker_context.rs builds exactly this.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY bench ./bench
COPY vendor ./vendor
RUN cargo build --release --locked --bin rampart \
    && strip target/release/rampart

# ---- run ----
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="rampart" \
      org.opencontainers.image.description="A hardening sidecar for legacy Python web APIs, built on Pingora" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.2.0"
COPY --from=build /src/target/release/rampart /usr/local/bin/rampart
COPY deploy/docker/rampart.yaml /etc/rampart/rampart.yaml
COPY conf/schemas /etc/rampart/schemas
ENV RAMPART_CONFIG=/etc/rampart/rampart.yaml \
    APP_ADDR=127.0.0.1:8000
EXPOSE 8080 9901
# distroless "nonroot"
USER 65532:65532
STOPSIGNAL SIGTERM
# No shell or curl in the image: the binary asks its own admin /readyz (address read from
# RAMPART_CONFIG's server.admin_listen) and exits 0 or 1.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/rampart", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/rampart"]
