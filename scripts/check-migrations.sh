#!/usr/bin/env bash
# Every backend must have the same migrations, folder for folder, each with
# an up.sql and a down.sql: a migration added for one backend only would make
# the schemas drift apart.
set -euo pipefail
cd "$(dirname "$0")/../migrations"

backends=(*/)
reference="${backends[0]%/}"
status=0
for backend in "${backends[@]}"; do
    backend="${backend%/}"
    if ! diff <(ls "$reference") <(ls "$backend") >/dev/null; then
        echo "migrations/$backend differs from migrations/$reference:" >&2
        diff <(ls "$reference") <(ls "$backend") >&2 || true
        status=1
    fi
    for migration in "$backend"/*/; do
        for file in up.sql down.sql; do
            if [ ! -s "$migration$file" ]; then
                echo "missing or empty: migrations/$migration$file" >&2
                status=1
            fi
        done
    done
done
if [ "$status" -eq 0 ]; then
    echo "migrations match across: ${backends[*]%/}"
fi
exit "$status"
