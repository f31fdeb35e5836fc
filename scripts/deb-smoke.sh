#!/usr/bin/env bash
# Installs target/debian/pwreset_*.deb on this machine (as root) and tries
# it as an operator would: the version, the unit file, the service user,
# `config check` and `migrate` as that user with the installed
# configuration, `serve` from the installed files answering /healthz, the
# completions and man pages; then purges it and checks nothing is left.
set -euo pipefail

deb=$(ls target/debian/pwreset_*.deb | head -n1)
echo "installing $deb"
dpkg -i "$deb" >/dev/null

pwreset --version
unit=/usr/lib/systemd/system/pwreset.service
test -f "$unit"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$unit"
    echo "systemd-analyze verify: ok"
fi
id pwreset
test "$(stat -c '%U:%G %a' /etc/pwreset/pwreset.toml)" = "root:pwreset 640"
test "$(stat -c '%U %a' /var/lib/pwreset)" = "pwreset 700"
for f in /usr/share/bash-completion/completions/pwreset \
         /usr/share/zsh/vendor-completions/_pwreset \
         /usr/share/fish/vendor_completions.d/pwreset.fish \
         /usr/share/man/man1/pwreset.1.gz /usr/share/man/man1/pwreset-user-list.1.gz; do
    test -s "$f"
done
zcat /usr/share/man/man1/pwreset.1.gz | grep -q 'forgot my password'

as_service() { (cd /var/lib/pwreset && runuser -u pwreset -- "$@"); }
as_service pwreset --config /etc/pwreset/pwreset.toml config check >/dev/null
as_service pwreset --config /etc/pwreset/pwreset.toml migrate
as_service pwreset --config /etc/pwreset/pwreset.toml migrate --status | grep -q '"pending": 0'

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
(cd /var/lib/pwreset && exec runuser -u pwreset -- env PWRESET_BIND="127.0.0.1:$port" \
    pwreset --config /etc/pwreset/pwreset.toml serve) >"$log" 2>&1 &
server=$!
ok=""
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null | grep -q '"ok"'; then ok=1; break; fi
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/readyz"; echo
kill "$server"; wait "$server" || true
if [ -z "$ok" ]; then
    echo "the installed service did not answer /healthz:" >&2
    cat "$log" >&2
    exit 1
fi
test -s /var/lib/pwreset/pwreset.db
echo "serve from the installed files: /healthz ok"

dpkg --purge pwreset >/dev/null
if id pwreset >/dev/null 2>&1 || test -e /var/lib/pwreset || test -e /usr/bin/pwreset; then
    echo "purge left something behind" >&2
    exit 1
fi
echo "installed, served, purged: ok"
