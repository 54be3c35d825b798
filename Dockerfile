# syntax=docker/dockerfile:1
# Shoal in a container: build the release binary, run it as an unprivileged user.
#
#   docker build -t shoal .
#   docker run --rm -p 4567:4567 -v shoal-data:/data shoal
#
# See docs/docker.md. Every setting can be passed as an environment variable
# (docs/configuration.md), e.g. -e SHOAL_CREATE_STREAMS=orders:4 -e SHOAL_LOG_FORMAT=json.

FROM rust:1-bookworm AS builder
WORKDIR /build
COPY . .
# The registry and target caches survive between builds (BuildKit); the binary is
# copied out of the cache mount in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target,id=shoal-target \
    cargo build --release --locked --bin shoal \
    && install -m 0755 target/release/shoal /usr/local/bin/shoal

FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 shoal \
    && useradd --system --uid 10001 --gid shoal --home-dir /data --no-create-home --shell /usr/sbin/nologin shoal \
    && mkdir -p /data \
    && chown shoal:shoal /data
COPY --from=builder /usr/local/bin/shoal /usr/local/bin/shoal
ENV SHOAL_HOST=0.0.0.0 SHOAL_PORT=4567 SHOAL_DATA_DIR=/data
USER shoal
VOLUME ["/data"]
EXPOSE 4567
# `shoal health` asks /health on the port the server listens on (SHOAL_PORT, read by the
# shell when the check runs, so `-e SHOAL_PORT=...` moves the check too): no curl needed.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD shoal health --endpoint "http://127.0.0.1:${SHOAL_PORT}"
ENTRYPOINT ["shoal"]
CMD ["serve"]
