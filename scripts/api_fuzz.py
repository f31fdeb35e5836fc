#!/usr/bin/env python3
"""make api-fuzz: schemathesis against the real binary's served openapi.json.

Serves pwreset on a throwaway SQLite database holding users with live reset
links, lets schemathesis generate requests from the document the server
publishes (`{prefix}/openapi.json`), and fails when

  * any response is a 5xx, or does not conform to the document (status code,
    content type, headers, body schema) — schemathesis's own checks;
  * any account or link changed: no generated request can know a secret, so
    every one of them must be refused without touching a password, a security
    stamp, a status, a link or the mail queue (audit rows are expected: every
    refusal is audited by design).

The budget is fixed (API_FUZZ_EXAMPLES per operation, a fixed seed), so a run
is reproducible; raise the budget to search harder.
"""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "100"))
SEED = os.environ.get("API_FUZZ_SEED", "20261127")
PREFIX = "/api/v4"
# Addresses nobody would generate; `jane@example.com` (the document's example)
# deliberately has no account, so the examples phase exercises the unknown-address path.
VICTIMS = ["victim-one@pwreset.invalid", "victim-two@pwreset.invalid", "victim-three@pwreset.invalid"]

# Cloudreve answers refusals with HTTP 200 and a code in the envelope, so the
# checks that judge acceptance by HTTP status alone do not apply to this API.
EXCLUDED_CHECKS = "negative_data_rejection,positive_data_acceptance"


def log(*args):
    print("[api-fuzz]", *args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary():
    features = os.environ.get("FEATURES")
    cmd = ["cargo", "build", "-q", "-p", "pwreset-server", "--bin", "pwreset"]
    if features:
        cmd += ["--features", f"pwreset-server/{features}"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return ROOT / "target" / "debug" / "pwreset"


def snapshot(db):
    """Everything a refused request must leave as it was."""
    with sqlite3.connect(db) as conn:
        return {
            "users": conn.execute(
                "SELECT id, email, password, status, security_stamp, updated_at FROM users ORDER BY id"
            ).fetchall(),
            "reset_tokens": conn.execute(
                "SELECT id, user_id, digest, expires_at, used_at, revoked_at FROM reset_tokens ORDER BY id"
            ).fetchall(),
            "mail_outbox": conn.execute("SELECT id, recipient, status FROM mail_outbox ORDER BY id").fetchall(),
        }


def near_misses(secret):
    """Secrets one step from a real one: each must be refused like any other."""
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    return [flipped, secret[:-1], secret + "x", secret.swapcase(), secret.lower(), f" {secret}", secret * 2]


def write_config(work, links):
    """Half the generated PATCHes target real accounts with live links, and a
    third of their secrets are near misses of the real ones: the deep path."""
    ids = ", ".join(json.dumps(link["user_id"]) for link in links)
    misses = ", ".join(json.dumps(m) for link in links for m in near_misses(link["secret"]))
    path = work / "schemathesis.toml"
    path.write_text(
        f"""[dictionaries.victims]
values = [{ids}]

[dictionaries.near_misses]
values = [{misses}]

[parameters]
"path.user_id" = {{ dictionary = "victims", probability = 0.5 }}
"body.secret" = {{ dictionary = "near_misses", probability = 0.3 }}
"""
    )
    return path


def real_reset(port, link):
    body = json.dumps({"password": "a brand new password", "secret": link["secret"]}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{PREFIX}/user/reset/{link['user_id']}",
        data=body, method="PATCH", headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.load(res)["code"] == 0


def pending_mail(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM mail_outbox WHERE status = 'pending'").fetchone()[0]


def audit_rows(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]


def main():
    schemathesis = (
        os.environ.get("SCHEMATHESIS")
        or shutil.which("schemathesis")
        or str(Path(sysconfig.get_path("scripts")) / "schemathesis")
    )
    if not Path(schemathesis).exists():
        sys.exit("schemathesis not found: install it (pip install schemathesis) or set SCHEMATHESIS=/path/to/it")
    exe = binary()
    work = Path(tempfile.mkdtemp(prefix="pwreset-api-fuzz-"))
    db = work / "pwreset.db"
    port = free_port()
    env = dict(
        os.environ,
        PWRESET_DATABASE_URL=f"sqlite:{db}",
        PWRESET_BIND=f"127.0.0.1:{port}",
        PWRESET_SITE_URL=f"http://127.0.0.1:{port}",
        PWRESET_API_PREFIX=PREFIX,
        PWRESET_HASHID_SALT="api-fuzz",
        PWRESET_MAIL=f"file:{work / 'outbox'}",
        PWRESET_BCRYPT_COST="4",
        # Deeper than the limiter: every generated request reaches validation.
        PWRESET_RATE_LIMIT="off",
        PWRESET_LINK_REQUEST_MIN_TIME="0s",
        PWRESET_LOG_FORMAT="json",
    )
    subprocess.run([exe, "migrate"], check=True, env=env, capture_output=True)
    links = []
    for email in VICTIMS:
        subprocess.run(
            [exe, "user", "create", "--email", email, "--nickname", "Victim", "--password-stdin"],
            input="the original password\n", text=True, check=True, env=env, capture_output=True,
        )
        issued = subprocess.run(
            [exe, "token", "issue", "--email", email], check=True, env=env, capture_output=True, text=True
        )
        links.append(json.loads(issued.stdout))

    server_log = open(work / "server.log", "w")
    server = subprocess.Popen([exe, "serve"], env=env, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}{PREFIX}/openapi.json"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        # The queued link mails go out now; let the worker settle them first.
        deadline = time.time() + 60
        while pending_mail(db) and time.time() < deadline:
            time.sleep(0.1)
        if pending_mail(db):
            sys.exit("the link mails were not delivered within 60 s")
        before = snapshot(db)
        audit_before = audit_rows(db)
        config = write_config(work, links)
        log(f"schemathesis on {url}: {EXAMPLES} examples per operation, seed {SEED}")
        result = subprocess.run(
            [
                schemathesis, "--config-file", str(config), "run", url,
                "--checks", "all",
                "--exclude-checks", EXCLUDED_CHECKS,
                "--max-examples", str(EXAMPLES),
                "--seed", SEED,
                "--workers", "2",
                "--request-timeout", "10",
                "--report", "junit",
                "--report-dir", str(work / "report"),
                "--warnings", "off",
                "--no-color",
            ],
            cwd=work,
        )
        after = snapshot(db)
        audits = audit_rows(db) - audit_before
        # The oracle is live: one real reset must show up as a change.
        live = real_reset(port, links[0])
        oracle_works = live and snapshot(db)["users"] != after["users"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server_log.close()

    failed = result.returncode != 0
    if not oracle_works:
        failed = True
        log("the state check is blind: a real reset did not change the snapshot")
    for table in before:
        if before[table] != after[table]:
            failed = True
            changed = set(after[table]) ^ set(before[table])
            log(f"STATE CHANGED in {table}: {len(changed)} rows differ, e.g. {sorted(changed)[:3]}")
    if server.returncode not in (0, -signal.SIGTERM):
        failed = True
        log(f"the server exited with {server.returncode}")
    panics = [line for line in (work / "server.log").read_text().splitlines() if "panicked" in line]
    if panics:
        failed = True
        log(f"the server panicked: {panics[:3]}")
    log(f"{audits} refusals audited; accounts, links and mail queue unchanged: {before == after}")
    if failed:
        log(f"FAILED — server log and report kept in {work}")
        sys.exit(1)
    shutil.rmtree(work)
    log("ok")


if __name__ == "__main__":
    main()
