#!/usr/bin/env bash
# make check-duplicates: fail when a crate is in the build graph in two
# versions, unless it is listed below with the reason no upgrade of ours
# removes it. A listed pair that is no longer doubled fails too, so the list
# stays true.
set -euo pipefail
cd "$(dirname "$0")/.."

# name: why both versions stay (who pulls the older one)
ALLOWED=(
  "lock_api: r2d2 0.8 uses parking_lot 0.12, its scheduled-thread-pool 0.2.8 uses 0.13"
  "parking_lot: the same"
  "parking_lot_core: the same"
  "syn: most derive macros (serde, clap, thiserror, tokio, actix) are on syn 3; darling, derive_more, diesel_derives and mockall_derive are still on syn 2"
  "winnow: toml 0.9 (ours and diesel_migrations') parses with winnow 1 (toml_parser) and keeps winnow 0.7 itself"
)

features=(--workspace --all-features --locked -e normal,build)
doubled=$(cargo tree -d "${features[@]}" --prefix none --format '{p}' 2>/dev/null |
  awk '/^[a-z0-9_-]+ v[0-9]/ {print $1, $2}' | sort -u | awk '{print $1}' | uniq -d)

allowed_names=$(printf '%s\n' "${ALLOWED[@]}" | cut -d: -f1 | sort -u)
unexpected=$(comm -23 <(printf '%s\n' $doubled | sort -u) <(printf '%s\n' $allowed_names))
stale=$(comm -13 <(printf '%s\n' $doubled | sort -u) <(printf '%s\n' $allowed_names))

status=0
if [ -n "$unexpected" ]; then
  echo "Crates in the graph twice (upgrade one side, or list them in $0 with the reason):" >&2
  for name in $unexpected; do
    cargo tree "${features[@]}" -d --prefix none --format '{p}' 2>/dev/null | grep -E "^$name v" | sort -u >&2
  done
  status=1
fi
if [ -n "$stale" ]; then
  echo "Listed as doubled but now in the graph once (remove them from $0):" $stale >&2
  status=1
fi
if [ $status -eq 0 ]; then
  echo "No duplicate crate versions beyond the ${#ALLOWED[@]} listed in $0."
fi
exit $status
