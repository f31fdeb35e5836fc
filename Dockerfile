# pwreset as a container image: a non-root user, state in the /data volume,
# listening on 0.0.0.0:5212, a HEALTHCHECK that asks the server itself.
#
#   docker build -t pwreset .                    # compiles pwreset in the Rust image
#   make image                                   # packs the binary `make build` made (--target prebuilt)
#   docker run -p 5212:5212 -v pwreset:/data pwreset
#
# docs/install.md has the details, and docker-compose.yml a PostgreSQL example.

# Compiles pwreset. FEATURES=mysql adds MySQL/MariaDB (then also pass
# RUNTIME_PACKAGES=libmariadb3).
FROM docker.io/library/rust:1-bookworm AS build
ARG FEATURES=""
WORKDIR /src
COPY . .
RUN if [ -n "$FEATURES" ]; then \
        apt-get update && apt-get install -y --no-install-recommends libmariadb-dev pkg-config; \
        set -- --features "pwreset-server/$FEATURES" --features "pwreset-infra/$FEATURES" --features "pwreset-cloudreve/$FEATURES"; \
    fi \
    && cargo build --release --locked -p pwreset-server --bin pwreset "$@" \
    && install -D -m 0755 target/release/pwreset /out/pwreset

# Everything of the image but the binary.
FROM docker.io/library/debian:bookworm-slim AS runtime
# Extra Debian packages: libmariadb3 when the binary has the mysql feature.
ARG RUNTIME_PACKAGES=""
# ca-certificates: smtps:// and rediss:// verify their servers against it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates $RUNTIME_PACKAGES \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pwreset \
    && useradd --system --uid 10001 --gid pwreset --home-dir /data --no-create-home --shell /usr/sbin/nologin pwreset \
    && install -d -o pwreset -g pwreset -m 0700 /data
# The image's defaults (SQLite and the outbox in /data, 0.0.0.0:5212) are in
# a configuration file rather than in ENV, so that any PWRESET_* variable, or
# PWRESET_*_FILE secret, given to the container wins over them.
COPY packaging/container.toml /etc/pwreset/pwreset.toml
ENV PWRESET_CONFIG=/etc/pwreset/pwreset.toml
USER pwreset:pwreset
WORKDIR /data
VOLUME ["/data"]
EXPOSE 5212
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["pwreset", "health", "--timeout", "4s"]
ENTRYPOINT ["pwreset"]
CMD ["serve"]

# `--target prebuilt`: the binary from the build context
# (target/container/pwreset, put there by `make image`), no Rust image needed.
FROM runtime AS prebuilt
COPY target/container/pwreset /usr/bin/pwreset

# The default: the binary compiled above.
FROM runtime
COPY --from=build /out/pwreset /usr/bin/pwreset
