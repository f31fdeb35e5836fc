#!/usr/bin/env bash
# A host application can depend on pwreset-domain, pwreset-http and
# pwreset-infra (memory store, bcrypt, hashids, templates, the contract
# suite) without compiling any C: no bundled SQLite or libpq, no vendored
# OpenSSL, no `cc` at all. And one with its own diesel setup can take the SQL
# store linked against the system's libraries. This proves both.
set -euo pipefail
cd "$(dirname "$0")/.."

c_crates='^(cc|cmake|openssl-src|openssl-sys|pq-src|pq-sys|libsqlite3-sys|mysqlclient-sys) '

echo "host without SQL: domain + http + infra (default features off, test-support on)"
cargo check -q -p pwreset-domain -p pwreset-http -p pwreset-infra --no-default-features --features pwreset-infra/test-support
found=$(cargo tree -p pwreset-domain -p pwreset-http -p pwreset-infra --no-default-features \
    --features pwreset-infra/test-support -e normal,build --prefix none | grep -E "$c_crates" | sort -u || true)
if [ -n "$found" ]; then
    echo "C is compiled or linked for a host that asked for none:" >&2
    echo "$found" >&2
    exit 1
fi

echo "host with its own diesel setup: infra with sql, not bundled"
found=$(cargo tree -p pwreset-infra --no-default-features --features sql -e normal,build --prefix none \
    | grep -E '^(cc|cmake|openssl-src|pq-src) ' | sort -u || true)
if [ -n "$found" ]; then
    echo "C sources are built although bundling is off:" >&2
    echo "$found" >&2
    exit 1
fi
echo "no forced native builds"
