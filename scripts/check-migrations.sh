#!/usr/bin/env bash
# Every backend must have the same migrations, folder for folder, each with
# an up.sql and a down.sql: a migration added for one backend only would make
# the schemas drift apart. Checked for both sets: migrations/ (pwreset's own
# accounts) and state-migrations/ (pwreset's prefixed tables beside another
# application's accounts).
set -euo pipefail
cd "$(dirname "$0")/../crates/infra"

status=0
for root in migrations state-migrations; do
    backends=("$root"/*/)
    reference="${backends[0]%/}"
    for backend in "${backends[@]}"; do
        backend="${backend%/}"
        if ! diff <(ls "$reference") <(ls "$backend") >/dev/null; then
            echo "$backend differs from $reference:" >&2
            diff <(ls "$reference") <(ls "$backend") >&2 || true
            status=1
        fi
        for migration in "$backend"/*/; do
            for file in up.sql down.sql; do
                if [ ! -s "$migration$file" ]; then
                    echo "missing or empty: $migration$file" >&2
                    status=1
                fi
            done
        done
    done
    if [ "$status" -eq 0 ]; then
        echo "$root: migrations match across: ${backends[*]%/}"
    fi
done
exit "$status"
