# items-api: the `api` service and the `migration` CLI in one small image.
#
#   docker build -t items-api .
#   docker run --rm -p 8000:8000 -e DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DB items-api
#   docker run --rm -e DATABASE_URL=... items-api migration up
#
# The builder stage first compiles the dependencies alone, from the manifests and stub
# sources, so that layer is rebuilt only when a Cargo.toml or Cargo.lock changes; then the
# workspace's own code. The runtime stage is debian-slim with the two binaries, config/ and a
# non-root user. No OpenSSL anywhere: TLS (when a database URL asks for it) is rustls with
# built-in roots. Checked without a Docker engine by tests/deploy/check.sh.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# --- dependencies: manifests plus an empty stub for every target they declare -------------
# (then the stubs of the crates built below are dropped; bench's stays: a member, not built)
COPY Cargo.toml Cargo.lock ./
COPY api/Cargo.toml api/
COPY domain/Cargo.toml domain/
COPY infrastructure/Cargo.toml infrastructure/
COPY migration/Cargo.toml migration/
COPY bench/Cargo.toml bench/
RUN set -eux; \
    for crate in api domain infrastructure migration; do \
        mkdir -p "$crate/src"; : > "$crate/src/lib.rs"; \
    done; \
    for crate in api migration bench; do \
        mkdir -p "$crate/src"; echo 'fn main() {}' > "$crate/src/main.rs"; \
    done; \
    mkdir -p api/tests/api migration/tests; \
    echo 'fn main() {}' > api/tests/api/main.rs; \
    : > migration/tests/cli.rs; \
    cargo build --release --locked -p api -p migration; \
    find api domain infrastructure migration -name '*.rs' -delete

# --- the workspace's own code ---------------------------------------------------------------
COPY api/ api/
COPY domain/ domain/
COPY infrastructure/ infrastructure/
COPY migration/ migration/
# COPY keeps the files' own modification times, which can be older than the stub build:
# touch them so cargo rebuilds the workspace crates instead of reusing the stubs.
RUN set -eux; \
    find api domain infrastructure migration -name '*.rs' -exec touch {} +; \
    cargo build --release --locked -p api -p migration; \
    mkdir -p /out; \
    cp target/release/api target/release/migration /out/; \
    strip /out/api /out/migration

# --- runtime -----------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# An unprivileged user; /app/data is writable for a SQLite database (APP_ENV=development, or
# an explicit sqlite:// URL). With PostgreSQL the service writes nothing to its filesystem, so
# the container can run with a read-only root (docker-compose.yml does).
RUN set -eux; \
    groupadd --system --gid 10001 app; \
    useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app; \
    mkdir -p /app/data; \
    chown app:app /app/data
WORKDIR /app
COPY --from=builder /out/api /out/migration /usr/local/bin/
COPY config/ /app/config/
# Listening on every interface is configuration, not code: APP__SERVER__HOST.
# MIMALLOC_ALLOW_THP=0: no transparent huge pages for the allocator even on hosts where THP is
# "always" (the build already never asks for them), so RSS is what the service uses.
ENV APP_CONFIG_DIR=/app/config \
    APP_ENV=production \
    APP__SERVER__HOST=0.0.0.0 \
    APP__SERVER__PORT=8000 \
    MIMALLOC_ALLOW_THP=0
USER 10001:10001
EXPOSE 8000
# Liveness: /health/live (the process answers), not /health/ready: a database outage must not
# mark the container unhealthy (orchestrators replace unhealthy containers); the service
# recovers by itself once the database answers. Readiness (/health/ready) is for start order and load balancers
# (docker-compose.yml's api health check). debian-slim has no curl. Rather than install it
# (with libcurl and OpenSSL, several MB, for a probe), the check is bash's own /dev/tcp: one
# HTTP/1.1 request, healthy on a 200 status line. Nothing extra in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\"${APP__SERVER__PORT:-8000}\" && printf 'GET /health/live HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && IFS=' ' read -r _ status _ <&3 && [ \"$status\" = 200 ]"]
CMD ["api"]
