# pwreset as a container image: a non-root user, state in the /data volume,
# listening on 0.0.0.0:5212, a HEALTHCHECK that asks the server itself.
#
#   docker build -t pwreset .                      # compiles pwreset inside (Rust image)
#   make image                                     # packs the binary `make build` made
#   docker run -p 5212:5212 -v pwreset:/data pwreset
#
# docs/install.md has the details and docker-compose.yml a PostgreSQL example.

# Where the binary comes from: `source` compiles it in the Rust image;
# `context` takes target/container/pwreset from the build context, which is
# what `make image` (and CI, which cannot pull the Rust image) uses.
ARG PWRESET_BINARY=source
# Extra Debian packages of the runtime image: libmariadb3 when the binary was
# built with the mysql feature (FEATURES=mysql).
ARG RUNTIME_PACKAGES=""
ARG FEATURES=""

FROM docker.io/library/rust:1-bookworm AS source
ARG FEATURES
WORKDIR /src
COPY . .
RUN if [ -n "$FEATURES" ]; then \
        apt-get update && apt-get install -y --no-install-recommends libmariadb-dev pkg-config; \
        set -- --features "pwreset-server/$FEATURES" --features "pwreset-infra/$FEATURES" --features "pwreset-cloudreve/$FEATURES"; \
    fi \
    && cargo build --release --locked -p pwreset-server --bin pwreset "$@" \
    && install -D -m 0755 target/release/pwreset /out/pwreset

FROM scratch AS context
COPY target/container/pwreset /out/pwreset

FROM ${PWRESET_BINARY} AS binary

FROM docker.io/library/debian:bookworm-slim
ARG RUNTIME_PACKAGES
# ca-certificates: smtps:// and rediss:// verify their servers against it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates $RUNTIME_PACKAGES \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pwreset \
    && useradd --system --uid 10001 --gid pwreset --home-dir /data --no-create-home --shell /usr/sbin/nologin pwreset \
    && install -d -o pwreset -g pwreset -m 0700 /data
COPY --from=binary /out/pwreset /usr/bin/pwreset
# The defaults of the image (SQLite and the outbox in /data, 0.0.0.0:5212)
# are in a configuration file rather than in ENV, so that any PWRESET_*
# variable, or a PWRESET_*_FILE secret, given to the container wins over them.
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
