#!/usr/bin/env bash
# Builds the container image from the Dockerfile with the binary in
# target/container/pwreset (`make image`), then tries it the way an operator
# would: as its non-root user, on the SQLite default in the /data volume, with
# the HEALTHCHECK, and against PostgreSQL with the database URL in a secret
# file, as docker-compose.yml runs it. Needs podman (Debian's package), run as root.
#
# This machine cannot reach Docker Hub: the debian:bookworm-slim base is made
# with debootstrap from Debian's mirror when it cannot be pulled, and the
# Dockerfile's Rust build stage is skipped (--target prebuilt).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${IMAGE:-localhost/pwreset:smoke}"
BASE=docker.io/library/debian:bookworm-slim
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
POSTGRES_URL="${PWRESET_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
RUNTIME_PACKAGES="${RUNTIME_PACKAGES:-}"

step() { printf '\n-- %s\n' "$*"; }
fail() { echo "container smoke test: $*" >&2; exit 1; }

[ -x target/container/pwreset ] || fail "target/container/pwreset is missing: run make image first"
command -v podman >/dev/null || fail "podman is missing (apt-get install podman)"

# crun refuses this machine's hybrid cgroups; runc runs. Rootful podman asks
# for more open files and processes than a sandbox may grant: ask for fewer.
podman=(podman)
if command -v runc >/dev/null; then podman+=(--runtime runc); fi
# The HEALTHCHECK's timer needs systemd, which this machine does not run:
# the script runs the check itself (podman healthcheck run).
limits=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --health-interval disable)

work="$(mktemp -d)"
names=()
cleanup() {
    for n in "${names[@]}"; do "${podman[@]}" rm -f "$n" >/dev/null 2>&1 || true; done
    "${podman[@]}" volume rm -f pwreset-smoke-data >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

step "base image $BASE"
if ! "${podman[@]}" image exists "$BASE"; then
    if ! timeout 30 "${podman[@]}" pull -q "$BASE" >/dev/null 2>&1; then
        echo "cannot pull it; building it with debootstrap from $MIRROR"
        command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install debootstrap)"
        debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
            || { tail -20 "$work/debootstrap.log"; fail "debootstrap failed"; }
        rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
        tar -C "$work/rootfs" -c . | "${podman[@]}" import - "$BASE" >/dev/null
        rm -rf "$work/rootfs"
    fi
fi

step "build $IMAGE"
"${podman[@]}" build --quiet --format docker --network host --pull=never \
    --target prebuilt --build-arg RUNTIME_PACKAGES="$RUNTIME_PACKAGES" \
    -t "$IMAGE" . >/dev/null
"${podman[@]}" image inspect "$IMAGE" --format '{{.Config.User}} {{.Config.Healthcheck.Test}}' \
    | tee "$work/inspect"
grep -q '^pwreset:pwreset \[CMD pwreset health' "$work/inspect" || fail "image user or HEALTHCHECK is not as written"

step "pwreset --version, as the image's user"
"${podman[@]}" run --rm "${limits[@]}" "$IMAGE" --version
[ "$("${podman[@]}" run --rm "${limits[@]}" --entrypoint id "$IMAGE" -u)" = 10001 ] || fail "not running as uid 10001"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_healthy() { # name
    for _ in $(seq 1 60); do
        if "${podman[@]}" healthcheck run "$1" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    "${podman[@]}" logs "$1" | tail -20
    fail "$1 never became healthy"
}

step "serve on SQLite in the /data volume (the image's defaults)"
port="$(free_port)"
names+=(pwreset-smoke-sqlite)
"${podman[@]}" run -d --name pwreset-smoke-sqlite "${limits[@]}" --network host \
    -e PWRESET_BIND="0.0.0.0:$port" -v pwreset-smoke-data:/data "$IMAGE" >/dev/null
wait_healthy pwreset-smoke-sqlite
body="$(curl -fsS "http://127.0.0.1:$port/healthz")"
[ "$body" = '{"status":"ok"}' ] || fail "/healthz answered $body"
"${podman[@]}" exec pwreset-smoke-sqlite pwreset health --ready
status="$("${podman[@]}" exec pwreset-smoke-sqlite pwreset migrate --status)"
grep -q '"pending": 0' <<<"$status" || fail "the served database is not up to date: $status"
"${podman[@]}" exec pwreset-smoke-sqlite sh -c 'ls -ln /data; test -f /data/pwreset.db && test -O /data/pwreset.db' \
    || fail "the database is not in /data or not owned by the image's user"
"${podman[@]}" stop -t 20 pwreset-smoke-sqlite >/dev/null
logs="$("${podman[@]}" logs pwreset-smoke-sqlite 2>&1)"
grep -q 'pwreset stopped' <<<"$logs" || fail "no clean stop on SIGTERM"

step "serve on PostgreSQL, the URL in a secret file (as docker-compose.yml)"
db="pwreset_container_$$"
psql "$POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
trap 'psql "$POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; cleanup' EXIT
# The server trusts local connections, so any password works: this one must
# not show in what config check prints.
url="$(printf '%s' "${POSTGRES_URL%/*}/$db" | sed 's|^postgres://\([^:@/]*\)@|postgres://\1:s3cret-in-a-file@|')"
[[ "$url" == *s3cret-in-a-file@* ]] || fail "cannot put a password into $url"
printf '%s\n' "$url" >"$work/database_url"
chmod 0644 "$work/database_url"
port="$(free_port)"
names+=(pwreset-smoke-postgres)
"${podman[@]}" run -d --name pwreset-smoke-postgres "${limits[@]}" --network host \
    -e PWRESET_BIND="0.0.0.0:$port" -e PWRESET_DATABASE_URL_FILE=/run/secrets/database_url \
    -e PWRESET_SITE_URL="http://localhost:$port" -e PWRESET_LOG_FORMAT=json \
    -v "$work/database_url:/run/secrets/database_url:ro" "$IMAGE" >/dev/null
wait_healthy pwreset-smoke-postgres
"${podman[@]}" exec pwreset-smoke-postgres pwreset health --ready
"${podman[@]}" exec pwreset-smoke-postgres pwreset config check >"$work/check"
grep -q '"PWRESET_DATABASE_URL": "postgres://' "$work/check" || fail "config check does not show the PostgreSQL URL"
grep -q '"PWRESET_DATABASE_URL": "env file"' "$work/check" || fail "config check does not say the URL came from the secret file"
if grep -q s3cret-in-a-file "$work/check"; then fail "config check shows the database password"; fi
[ "$(psql "$url" -Atc "SELECT count(*) FROM __diesel_schema_migrations")" -gt 0 ] || fail "no migrations in $db"
logs="$("${podman[@]}" logs pwreset-smoke-postgres 2>&1)"
grep -q '"message":"database migrated"' <<<"$logs" || fail "no JSON log line of the migration: $logs"

echo
echo "container smoke test passed"
