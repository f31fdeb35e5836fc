#!/usr/bin/env python3
"""make soak: minutes of mixed, steady load on the real release binary.

Three kinds of traffic at fixed rates, each on its own accounts so they cannot
interfere:

  * link requests (`POST /user/reset`) for known and unknown addresses: 0;
  * refusals (`PATCH` with a wrong secret on real accounts): 40030;
  * full resets: request a link, read the delivered mail from the outbox
    folder, `PATCH` with its secret: 0.

Every response must carry exactly the expected code. The server's RSS, open
file descriptors and database connections are sampled throughout; after the
load stops and the server settles, none may have grown past what it held at
the end of the warm-up (small fixed slack for allocator noise).

    SOAK_SECONDS=180 SOAK_BACKEND=postgres|sqlite make soak

Writes a summary to stdout (paste it into docs/reliability.md when it changes).
"""

import atexit
import email
import email.utils
import http.client
import json
import os
import random
import re
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
SECONDS = int(os.environ.get("SOAK_SECONDS", "180"))
BACKEND = os.environ.get("SOAK_BACKEND", "postgres")
PG_ADMIN = os.environ.get("PWRESET_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
PREFIX = "/api/v4"
# Requests per second of each kind (resets are bounded by bcrypt and mail latency instead).
REQUEST_RATE = 25
REFUSAL_RATE = 25
RESETTERS = 3
WARMUP = max(10, SECONDS // 5)
SETTLE = 15
# Growth allowed between the end of the warm-up and the settled state.
RSS_SLACK_MIB = 2
RSS_SLACK_RATIO = 1.10
FD_SLACK = 2


def log(*args):
    print("[soak]", *args, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.codes = Counter()
        self.unexpected = Counter()
        self.latency = {}

    def record(self, kind, expected, code, elapsed):
        with self.lock:
            self.codes[(kind, code)] += 1
            self.latency.setdefault(kind, []).append(elapsed)
            if code not in expected:
                self.unexpected[(kind, code)] += 1


class Client:
    """One keep-alive connection per worker, reopened when the server drops it."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def call(self, method, path, body):
        payload = json.dumps(body).encode()
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, PREFIX + path, payload, {"Content-Type": "application/json"})
                res = self.conn.getresponse()
                return json.loads(res.read())["code"]
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    return "transport-error"
        return "transport-error"


class Outbox:
    """Reads delivered mail: the newest secret for each recipient."""

    def __init__(self, folder):
        self.folder = folder
        self.seen = set()
        self.secrets = {}
        self.lock = threading.Lock()
        self.scanning = threading.Lock()

    def scan(self):
        with self.scanning:
            self._scan()

    def _scan(self):
        if not self.folder.exists():
            return
        for path in self.folder.iterdir():
            if path.name in self.seen or not path.name.endswith(".eml"):
                continue
            try:
                written = path.stat().st_mtime
                if time.time() - written < 0.3:
                    continue  # the transport may still be writing it
                message = email.message_from_bytes(path.read_bytes())
            except OSError:
                continue
            text = "".join(
                part.get_payload(decode=True).decode("utf-8", "replace")
                for part in message.walk()
                if part.get_content_type() == "text/plain"
            )
            link = re.search(r"https?://\S*session/reset\?\S+", text)
            if not link:  # the password-changed notice
                self.seen.add(path.name)
                path.unlink()
                continue
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(link.group(0)).query)
            secret = query.get("secret", [""])[0]
            if not re.fullmatch(r"[0-9A-Za-z]{32}", secret) or "id" not in query:
                raise RuntimeError(f"a delivered mail without a well-formed link: {path}")
            recipient = email.utils.parseaddr(message["To"])[1].lower()
            with self.lock:
                self.seen.add(path.name)
                self.secrets[recipient] = (query["id"][0], secret, written)
            path.unlink()

    def take(self, address, since, timeout=30):
        """The link of a mail to `address` written after `since` (an older
        one, delivered late for an earlier request, is stale)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                found = self.secrets.get(address)
                if found and found[2] >= since:
                    del self.secrets[address]
                    return found[:2]
            self.scan()
            time.sleep(0.05)
        return None


def paced(rate, stop, body):
    """Runs `body()` `rate` times a second until `stop` is set."""
    interval = 1.0 / rate
    next_at = time.time()
    while not stop.is_set():
        body()
        next_at += interval
        time.sleep(max(0.0, next_at - time.time()))


def sample(pid, database):
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    connections = None
    if database:
        connections = int(run([
            "psql", PG_ADMIN, "-tAc",
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'",
        ]).strip())
    return {"t": time.time(), "rss": rss, "fds": fds, "threads": threads, "connections": connections}


def main():
    log("building the release binaries")
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "pwreset-server", "-p", "pwreset-bench"],
        check=True, cwd=ROOT,
    )
    work = Path(tempfile.mkdtemp(prefix="pwreset-soak-"))
    database = None
    if BACKEND == "postgres":
        database = f"pwreset_soak_{os.getpid()}"
        run(["psql", PG_ADMIN, "-qc", f'CREATE DATABASE "{database}"'])
        atexit.register(
            subprocess.run,
            ["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'],
            capture_output=True,
        )
        head, _, query = PG_ADMIN.partition("?")
        url = f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")
    else:
        url = f"sqlite:{work / 'pwreset.db'}"
    port = free_port()
    env = dict(
        os.environ,
        PWRESET_DATABASE_URL=url,
        PWRESET_BIND=f"127.0.0.1:{port}",
        PWRESET_SITE_URL="http://soak.example",
        PWRESET_MAIL=f"file:{work / 'outbox'}",
        PWRESET_MAIL_POLL="1s",
        PWRESET_RATE_LIMIT="off",
        PWRESET_BCRYPT_COST="10",
        PWRESET_LOG_FORMAT="json",
    )
    run([str(RELEASE / "pwreset"), "migrate"], env=env)
    run([str(RELEASE / "seed"), url, str(work), "3000", "0", "0"])
    emails = (work / "emails.txt").read_text().split()
    ids = (work / "users.txt").read_text().split()
    requested, refused, reset = emails[:1000], ids[1000:2000], emails[2000:]

    server_log = open(work / "server.log", "w")
    server = subprocess.Popen([str(RELEASE / "pwreset"), "serve"], env=env, stdout=server_log, stderr=server_log)
    atexit.register(lambda: server.poll() is None and server.kill())
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)

    stats, stop, samples = Stats(), threading.Event(), []
    outbox = Outbox(work / "outbox")

    def requester():
        client = Client(port)

        def one():
            address = random.choice(requested) if random.random() < 0.5 else f"nobody-{random.getrandbits(40)}@soak.example"
            started = time.time()
            stats.record("link request", {0}, client.call("POST", "/user/reset", {"email": address}), time.time() - started)
        # Two workers: each request takes at least the 50 ms floor.
        paced(REQUEST_RATE / 2, stop, one)

    def refuser():
        client = Client(port)

        def one():
            secret = "".join(random.choices(string.ascii_letters + string.digits, k=32))
            body = {"password": "never stored", "secret": secret}
            started = time.time()
            code = client.call("PATCH", f"/user/reset/{random.choice(refused)}", body)
            stats.record("refusal", {40030}, code, time.time() - started)
        paced(REFUSAL_RATE, stop, one)

    def resetter(mine):
        client = Client(port)
        while not stop.is_set():
            address = random.choice(mine)
            started = time.time()
            stats.record("reset: request", {0}, client.call("POST", "/user/reset", {"email": address}), time.time() - started)
            # mtimes have coarse granularity on some filesystems: allow 1 s.
            link = outbox.take(address.lower(), since=started - 1)
            if link is None:
                stats.record("reset: mail", {"delivered"}, "not delivered in 30 s", 30)
                continue
            public_id, secret = link
            started = time.time()
            body = {"password": f"soaked-{random.getrandbits(32)}", "secret": secret}
            stats.record("reset", {0}, client.call("PATCH", f"/user/reset/{public_id}", body), time.time() - started)

    def sampler():
        while not stop.wait(2):
            samples.append(sample(server.pid, database))

    crashed = []

    def guarded(target, *args):
        def run_it():
            try:
                target(*args)
            except Exception as e:  # a dead worker must fail the run, not thin the load
                crashed.append(f"{target.__name__}: {e!r}")
                stop.set()
        return threading.Thread(target=run_it)

    threads = [guarded(requester) for _ in range(2)]
    threads += [guarded(refuser), guarded(sampler)]
    threads += [guarded(resetter, reset[i::RESETTERS]) for i in range(RESETTERS)]
    log(f"{SECONDS} s of load on {BACKEND}: {REQUEST_RATE} link requests/s, {REFUSAL_RATE} refusals/s, {RESETTERS} resetters")
    began = time.time()
    for t in threads:
        t.start()
    stop.wait(SECONDS)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.time() - began
    time.sleep(SETTLE)
    settled = sample(server.pid, database)

    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    server_log.close()

    # The baseline is the state at the end of the warm-up: caches, pools and
    # allocator arenas are full by then; nothing should grow after it.
    warm = [s for s in samples if s["t"] - began <= WARMUP]
    baseline = warm[-1] if warm else samples[0]
    peak = {k: max(s[k] for s in samples) for k in ("rss", "fds", "threads")}
    total = sum(stats.codes.values())
    report = {
        "backend": BACKEND,
        "seconds": round(elapsed),
        "requests": total,
        "by kind and code": {f"{k} → {c}": n for (k, c), n in sorted(stats.codes.items(), key=str)},
        "unexpected": {f"{k} → {c}": n for (k, c), n in stats.unexpected.items()},
        "p50/p99 ms": {
            k: f"{1000 * sorted(v)[len(v) // 2]:.0f} / {1000 * sorted(v)[int(len(v) * 0.99)]:.0f}"
            for k, v in stats.latency.items()
        },
        "rss MiB (warm-up / peak / settled)": f"{baseline['rss']:.1f} / {peak['rss']:.1f} / {settled['rss']:.1f}",
        "fds (warm-up / peak / settled)": f"{baseline['fds']} / {peak['fds']} / {settled['fds']}",
        "threads (warm-up / peak / settled)": f"{baseline['threads']} / {peak['threads']} / {settled['threads']}",
        "db connections (warm-up / peak / settled)": (
            f"{baseline['connections']} / {max(s['connections'] for s in samples)} / {settled['connections']}"
            if database else "n/a (SQLite: a file, counted in fds)"
        ),
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))

    failures = [f"worker crashed: {c}" for c in crashed]
    if stats.unexpected:
        failures.append(f"unexpected codes: {dict(stats.unexpected)}")
    if server.returncode not in (0, -signal.SIGTERM):
        failures.append(f"server exited with {server.returncode}")
    if settled["rss"] > baseline["rss"] * RSS_SLACK_RATIO + RSS_SLACK_MIB:
        failures.append(f"RSS grew: {baseline['rss']:.1f} → {settled['rss']:.1f} MiB")
    if settled["fds"] > baseline["fds"] + FD_SLACK:
        failures.append(f"file descriptors grew: {baseline['fds']} → {settled['fds']}")
    if database and settled["connections"] > max(baseline["connections"], 1) + FD_SLACK:
        failures.append(f"database connections grew: {baseline['connections']} → {settled['connections']}")
    if "panicked" in (work / "server.log").read_text():
        failures.append("the server panicked (see its log)")
    if failures:
        log("FAILED:", "; ".join(failures), f"— kept {work}")
        sys.exit(1)
    log("ok")


if __name__ == "__main__":
    main()
