#!/usr/bin/env python3
"""make bench: measure pwreset against its physical limits and write docs/benchmarks.md.

Drives the real release binary with wrk. Every ratio compares two numbers
measured in this one run, on this machine, with this build. The benchmark
reports; it never fails the build on a number.
"""

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BENCH = ROOT / "crates" / "bench"
RELEASE = ROOT / "target" / "release"
LUA = BENCH / "wrk"
OUT = ROOT / "docs" / "benchmarks.md"
PG_ADMIN = os.environ.get("PWRESET_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
QUICK = os.environ.get("BENCH_QUICK") == "1"
SECONDS = 4 if QUICK else 10
COST = 10
# The refusal path is measured the way a user deploys it: the server on one
# core, the load generator on another (taskset), so neither steals the
# other's CPU. Resets and the rest use every core.
# BENCH_PIN=0 shares every core between them, as earlier runs did.
PIN = (
    os.environ.get("BENCH_PIN", "1") != "0"
    and (os.cpu_count() or 1) >= 2
    and shutil.which("taskset") is not None
)
SERVER_CPU, LOAD_CPU = "0", "1"


def pinned(cmd, cpu):
    return (["taskset", "-c", cpu] + cmd) if (PIN and cpu is not None) else cmd


def log(*args):
    print("[bench]", *args, file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$", " ".join(str(c) for c in cmd))
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_tools():
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("redis-server", "redis-server")) if shutil.which(tool) is None]
    if missing:
        log("installing", *missing)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def build():
    started = time.time()
    subprocess.run(
        ["cargo", "build", "--release", "-p", "pwreset-server", "-p", "pwreset-bench"],
        check=True, cwd=ROOT,
    )
    return time.time() - started


def wait_ready(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("server did not become ready")


class Server:
    """A pwreset serve process (or the bare handler) on a free port."""

    def __init__(self, workdir, database_url=None, bare=False, extra=None, cpu=None):
        self.port = free_port()
        self.log = open(Path(workdir) / f"server-{self.port}.log", "w")
        env = dict(os.environ)
        env.update({
            "PWRESET_BIND": f"127.0.0.1:{self.port}",
            "PWRESET_RATE_LIMIT": "off",
            "PWRESET_BCRYPT_COST": str(COST),
            "PWRESET_MAIL": "log",
            "PWRESET_SITE_URL": "http://bench.example",
            "BIND": f"127.0.0.1:{self.port}",
        })
        if database_url:
            env["PWRESET_DATABASE_URL"] = database_url
        env.update(extra or {})
        cmd = pinned([str(RELEASE / "bare")] if bare else [str(RELEASE / "pwreset"), "serve"], cpu)
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=self.log, stderr=self.log)
        if bare:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.05)
        else:
            wait_ready(self.port, self.proc)
        self.url = f"http://127.0.0.1:{self.port}"

    def peak_rss_mib(self):
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kib = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
        return kib / 1024

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(url, script, args, connections, seconds=SECONDS, path="/", cpu=None):
    cmd = pinned(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(LUA / script), url + path, "--"], cpu)
    out = run(cmd + [str(a) for a in args])
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "p50": to_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99": to_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "errors": 0,
        "raw": out,
    }
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if non2xx:
        result["errors"] += int(non2xx.group(1))
    if socket_errors:
        result["socket_errors"] = socket_errors.group(1)
    failed = re.search(r"not-success: (\d+)", out)
    if failed:
        result["not_success"] = int(failed.group(1))
    return result


def seed(database_url, out_dir, users, live, noise):
    return run([str(RELEASE / "seed"), database_url, str(out_dir), str(users), str(live), str(noise)])


def pg_database(name):
    base, _, query = PG_ADMIN.partition("?")
    head = base.rsplit("/", 1)[0]
    run(["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{name}"'])
    run(["psql", PG_ADMIN, "-qc", f'CREATE DATABASE "{name}"'])
    return f"{head}/{name}" + (f"?{query}" if query else "")


def drop_pg(name):
    subprocess.run(["psql", PG_ADMIN, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True)


def criterion():
    """The micro-benchmarks; returns {name: (value, unit)} of the median estimates."""
    out = subprocess.run(
        ["cargo", "bench", "-p", "pwreset-bench", "--bench", "micro", "--", "--noplot",
         "--warm-up-time", "1", "--measurement-time", "2" if QUICK else "3"],
        cwd=ROOT, check=True, text=True, capture_output=True,
    ).stdout
    results = {}
    for m in re.finditer(r"^(\S[^\n]*?)\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", out, re.M):
        results[m.group(1).strip()] = (float(m.group(2)), m.group(3))
    return results, out


def machine():
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024 // 1024
    rustc = run(["rustc", "--version"]).strip()
    wrk_version = subprocess.run(["wrk", "--version"], text=True, capture_output=True).stdout.splitlines()[0]
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem,
        "kernel": platform.release(), "rustc": rustc, "wrk": wrk_version.split(" Copyright")[0],
    }


HIGH_LIMITS = {
    "PWRESET_RATE_LIMIT": "on",
    "PWRESET_RATE_LIMIT_RESET_PER_IP": "1000000000/1h",
    "PWRESET_RATE_LIMIT_RESET_PER_USER": "1000000000/1h",
}


def redis_cli(port, *args):
    return run(["redis-cli", "-p", str(port), *args])


def three_instances(work, pg_dir, pg_url):
    """Refusal throughput of three instances, limits in process vs in Redis."""
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        out = {}
        for mode in ("local", "redis", "local_again"):
            extra = dict(HIGH_LIMITS)
            if mode == "redis":
                extra["PWRESET_REDIS_URL"] = f"redis://127.0.0.1:{port}"
                redis_cli(port, "CONFIG", "RESETSTAT")
            servers = [Server(pg_dir, pg_url, extra=extra) for _ in range(3)]
            loads = [
                subprocess.Popen(
                    ["wrk", "-t1", "-c11", f"-d{SECONDS}s", "--latency", "-s", str(LUA / "refusal.lua"),
                     srv.url + "/", "--", str(pg_dir / "users.txt")],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                )
                for srv in servers
            ]
            outs = [p.communicate()[0] for p in loads]
            for srv in servers:
                srv.stop()
            rps = sum(float(re.search(r"Requests/sec:\s+([\d.]+)", o).group(1)) for o in outs)
            requests = sum(int(re.search(r"(\d+) requests in", o).group(1)) for o in outs)
            p99 = max(to_ms(re.search(r"\s99%\s+(\S+)", o).group(1)) for o in outs)
            non2xx = sum(int(m.group(1)) for o in outs for m in [re.search(r"Non-2xx or 3xx responses: (\d+)", o)] if m)
            out[mode] = {"rps": rps, "requests": requests, "p99": p99, "errors": non2xx}
            if mode == "redis":
                stats = redis_cli(port, "INFO", "commandstats")
                calls = sum(int(c) for c in re.findall(r"cmdstat_(?:evalsha|eval):calls=(\d+)", stats))
                out[mode]["redis_calls"] = calls
                keys = int(redis_cli(port, "DBSIZE").strip())
                memory = redis_cli(port, "INFO", "memory")
                used = int(re.search(r"used_memory:(\d+)", memory).group(1))
                sample = redis_cli(port, "RANDOMKEY").strip()
                out[mode]["keys"] = keys
                out[mode]["key_bytes"] = int(redis_cli(port, "MEMORY", "USAGE", sample).strip() or 0)
                out[mode]["used_memory"] = used
        return out
    finally:
        redis.terminate()
        redis.wait()


def main():
    started = time.time()
    ensure_tools()
    build_seconds = build()
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="pwreset-bench-"))
    results = {"machine": info, "build_seconds": build_seconds}
    pg_names = []
    try:
        # --- data sets ---------------------------------------------------
        small = work / "small"
        seed(f"sqlite://{small}/pwreset.db", small, 1000, 0, 1000)
        resets = work / "resets"
        seed(f"sqlite://{resets}/pwreset.db", resets, 4000, 4000, 0)
        pg_name = f"pwreset_bench_{os.getpid()}"
        pg_names.append(pg_name)
        pg_url = pg_database(pg_name)
        pg_dir = work / "pg"
        seed(pg_url, pg_dir, 1000, 0, 1000)

        # --- 1. refusal path vs a bare handler --------------------------
        # The machine is shared and noisy: alternate the two, twice, and keep
        # each one's better run.
        bare = Server(work, bare=True, cpu=SERVER_CPU)
        sq = Server(small, f"sqlite://{small}/pwreset.db", cpu=SERVER_CPU)
        runs = {"bare": [], "sqlite": []}
        for _ in range(2):
            runs["bare"].append(wrk(bare.url, "refusal.lua", [small / "users.txt"], 32, cpu=LOAD_CPU))
            runs["sqlite"].append(wrk(sq.url, "refusal.lua", [small / "users.txt"], 32, cpu=LOAD_CPU))
        results["bare"] = max(runs["bare"], key=lambda r: r["rps"])
        results["refusal_sqlite"] = max(runs["sqlite"], key=lambda r: r["rps"])
        results["peak_rss_mib"] = sq.peak_rss_mib()
        bare.stop()
        sq.stop()
        pg = Server(pg_dir, pg_url, cpu=SERVER_CPU)
        results["refusal_postgres"] = wrk(pg.url, "refusal.lua", [pg_dir / "users.txt"], 32, cpu=LOAD_CPU)
        pg.stop()

        # --- 2. reset path vs raw bcrypt --------------------------------
        # pwreset hashes on as many threads as cores by default (below the
        # request handlers' priority); the raw measurement uses as many.
        threads = os.cpu_count() or 1
        results["bcrypt_threads"] = threads
        results["bcrypt_raw"] = float(run([str(RELEASE / "bcrypt-raw"), str(COST), str(threads), str(SECONDS)]).strip())
        rs = Server(resets, f"sqlite://{resets}/pwreset.db", extra={"PWRESET_BCRYPT_CONCURRENCY": str(threads)})
        # Unloaded refusal latency on this server, for the mixed test.
        results["refusal_unloaded_resets_db"] = wrk(rs.url, "refusal.lua", [resets / "users.txt"], 4)
        results["reset"] = wrk(rs.url, "reset.lua", [resets / "tokens.txt"], 8)

        # --- 3. refusals while resets saturate bcrypt -------------------
        tokens_left = work / "tokens-left.txt"
        used = results["reset"]["requests"] + 16
        lines = (resets / "tokens.txt").read_text().splitlines()[used:]
        tokens_left.write_text("\n".join(lines) + "\n")
        load = subprocess.Popen(
            ["wrk", "-t1", "-c8", f"-d{SECONDS + 4}s", "-s", str(LUA / "reset.lua"), rs.url + "/", "--", str(tokens_left)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(2)
        results["refusal_mixed"] = wrk(rs.url, "refusal.lua", [resets / "users.txt"], 4)
        load.wait()
        rs.stop()

        # --- 4. scale: 1,000 vs 1,000,000 tokens -------------------------
        big = work / "big"
        noise = 100_000 if QUICK else 1_000_000
        seed_started = time.time()
        seed(f"sqlite://{big}/pwreset.db", big, 1000, 0, noise)
        results["seed_big_seconds"] = time.time() - seed_started
        results["big_tokens"] = noise
        s1 = Server(small, f"sqlite://{small}/pwreset.db")
        results["scale_small"] = wrk(s1.url, "refusal.lua", [small / "users.txt"], 4)
        s1.stop()
        s2 = Server(big, f"sqlite://{big}/pwreset.db")
        results["scale_big"] = wrk(s2.url, "refusal.lua", [big / "users.txt"], 4)
        s2.stop()

        # --- 5. timing oracle on POST /user/reset ------------------------
        o = Server(small, f"sqlite://{small}/pwreset.db")
        results["request_unknown"] = wrk(o.url, "request.lua", ["unknown"], 4)
        results["request_known"] = wrk(o.url, "request.lua", ["known", small / "emails.txt"], 4)
        results["request_unknown_2"] = wrk(o.url, "request.lua", ["unknown"], 4)
        o.stop()

        # --- 5b. the same oracle under concurrent load on PostgreSQL ------
        # Known-address requests load the server (and slow the known path);
        # probes for known and unknown addresses are timed meanwhile.
        po = Server(pg_dir, pg_url)
        load = subprocess.Popen(
            ["wrk", "-t1", "-c16", f"-d{2 * SECONDS + 6}s", "-s", str(LUA / "request.lua"), po.url + "/",
             "--", "known", str(pg_dir / "emails.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(2)
        results["request_unknown_pg_load"] = wrk(po.url, "request.lua", ["unknown"], 2)
        results["request_known_pg_load"] = wrk(po.url, "request.lua", ["known", pg_dir / "emails.txt"], 2)
        load.wait()
        po.stop()

        # --- 6. three instances: shared (Redis) vs in-process limits -------
        # Three `pwreset serve` on one PostgreSQL database, each loaded by a
        # wrk of its own at once; limits on but too high to trip, so every
        # refusal makes its checks (reset per IP, then per user) and none is
        # refused by them. The same run with and without PWRESET_REDIS_URL.
        results["instances"] = three_instances(work, pg_dir, pg_url)

        # --- 7. micro-benchmarks -----------------------------------------
        results["micro"], _ = criterion()
    finally:
        for name in pg_names:
            drop_pg(name)
        shutil.rmtree(work, ignore_errors=True)
    results["total_seconds"] = time.time() - started
    for v in results.values():
        if isinstance(v, dict):
            v.pop("raw", None)
    (ROOT / "target" / "bench-results.json").write_text(json.dumps(results, indent=2))
    OUT.write_text(render(results))
    log(f"wrote {OUT} in {results['total_seconds']:.0f} s")


def ratio(a, b):
    return a / b if b else float("nan")


def render(r):
    m = r["machine"]
    bare, sq, pg = r["bare"], r["refusal_sqlite"], r["refusal_postgres"]
    refusal_ratio = ratio(sq["rps"], bare["rps"])
    reset_ratio = ratio(r["reset"]["rps"], r["bcrypt_raw"])
    mixed_ratio = ratio(r["refusal_mixed"]["p99"], r["refusal_unloaded_resets_db"]["p99"])
    scale_ratio = ratio(r["scale_big"]["p50"], r["scale_small"]["p50"])
    unknown_p50 = (r["request_unknown"]["p50"] + r["request_unknown_2"]["p50"]) / 2
    oracle_ratio = ratio(r["request_known"]["p50"], unknown_p50)
    loaded_known, loaded_unknown = r["request_known_pg_load"], r["request_unknown_pg_load"]
    loaded_ratio = ratio(loaded_known["p50"], loaded_unknown["p50"])

    def ok(good):
        return "met" if good else "**not met**"

    inst = r["instances"]
    best_local = max(inst["local"]["rps"], inst["local_again"]["rps"])
    shared_ratio = ratio(inst["redis"]["rps"], best_local)
    inst_noise = abs(ratio(inst["local"]["rps"], inst["local_again"]["rps"]) - 1)

    def inst_row(name, res):
        return f"| {name} | {res['rps']:,.0f} | {res['p99']:.1f} | {res['requests']:,} | {res['errors']} |"

    def row(name, res):
        return f"| {name} | {res['rps']:,.0f} | {res['p50']:.3f} | {res['p99']:.3f} | {res['requests']:,} | {res['errors']} |"

    PLACEMENT = (
        f"For the refusal path (bare handler, SQLite, PostgreSQL) the server runs on CPU {SERVER_CPU} "
        f"and wrk on CPU {LOAD_CPU} (`taskset`), so each has a core of its own, the way a user "
        "deploys it; the bare handler and pwreset then both run one actix worker. Resets, the mixed "
        "load and the rest use every core, server and wrk alike."
        if PIN else
        "The load generator shares the cores with the server, so absolute numbers are low; "
        "the ratios are what the targets are about."
    )
    micro = "\n".join(f"| {name} | {value:.1f} {unit} |" for name, (value, unit) in sorted(r["micro"].items()))
    return f"""# Benchmarks

Generated by `make bench` (`crates/bench/bench.py`); every number below comes from
one run, and every ratio compares two numbers of that run. The refusal path
and the bare handler are measured alternately, twice each, keeping each one's
better run (the machine is shared and noisy).

## Machine and method

| | |
|---|---|
| CPU | {m['cpu']} ({m['cores']} cores) |
| memory | {m['memory_gib']} GiB |
| kernel | {m['kernel']} |
| compiler | {m['rustc']} |
| load generator | {m['wrk']}, one thread, on the same machine{", pinned to CPU " + LOAD_CPU + " for the refusal path, the server to CPU " + SERVER_CPU if PIN else ""} |
| build | `cargo build --release` (thin LTO), {r['build_seconds']:.0f} s here |
| run | {r['total_seconds']:.0f} s in all, {SECONDS} s per measurement |

The server is the real `pwreset serve` binary, configured as in production
except `PWRESET_RATE_LIMIT=off` (the load comes from one address),
`PWRESET_MAIL=log` and `PWRESET_BCRYPT_COST={COST}`; it logs at the default
`info` level to a file. Data is seeded with `pwreset-bench`'s `seed`.
{PLACEMENT}

Commands (what `make bench` runs), for example:

```sh
cargo build --release -p pwreset-server -p pwreset-bench
target/release/seed sqlite://$DIR/pwreset.db $DIR 1000 0 1000
PWRESET_RATE_LIMIT=off PWRESET_MAIL=log PWRESET_BCRYPT_COST={COST} target/release/pwreset serve
wrk -t1 -c32 -d{SECONDS}s --latency -s crates/bench/wrk/refusal.lua http://127.0.0.1:$PORT/ -- $DIR/users.txt
target/release/bcrypt-raw {COST} {r['bcrypt_threads']} {SECONDS}
```

## Results

| load | requests/s | p50 ms | p99 ms | requests | non-2xx |
|---|---|---|---|---|---|
{row("bare actix-web JSON handler (32 connections)", bare)}
{row("refusal path, SQLite (32 connections)", sq)}
{row("refusal path, PostgreSQL (32 connections)", pg)}
{row(f"reset path, cost {COST}, SQLite (8 connections)", r['reset'])}
{row("refusal path unloaded (4 connections)", r['refusal_unloaded_resets_db'])}
{row("refusal path while resets saturate bcrypt (4 connections)", r['refusal_mixed'])}
{row("refusal path, 1,000 tokens (4 connections)", r['scale_small'])}
{row(f"refusal path, {r['big_tokens']:,} tokens (4 connections)", r['scale_big'])}
{row("POST /user/reset, unknown addresses (4 connections)", r['request_unknown'])}
{row("POST /user/reset, known addresses (4 connections)", r['request_known'])}
{row("POST /user/reset, unknown addresses again", r['request_unknown_2'])}
{row("POST /user/reset, PostgreSQL, unknown addresses (2 connections) amid 16 of known", loaded_unknown)}
{row("POST /user/reset, PostgreSQL, known addresses (2 connections) amid 16 of known", loaded_known)}

### Three instances: rate limits shared through Redis vs in process

Three `pwreset serve` on one PostgreSQL database, each driven by its own wrk
(11 connections, {SECONDS} s, all at once), refusal path with rate limits on
but too high to trip (every refusal checks `reset_per_ip` and
`reset_per_user`); once with limits in process, once with
`PWRESET_REDIS_URL` (a `redis-server` of its own), then in process again.

| limits | requests/s (sum of 3) | worst p99 ms | requests | non-2xx |
|---|---|---|---|---|
{inst_row("in process", inst['local'])}
{inst_row("shared through Redis", inst['redis'])}
{inst_row("in process, again", inst['local_again'])}

Shared ÷ in process: **{shared_ratio:.0%}** (against the better of the two
in-process runs; they differ by {inst_noise:.0%}, the noise of this machine).
Redis ran {inst['redis']['redis_calls']:,} script calls for {inst['redis']['requests']:,} requests
({inst['redis']['redis_calls'] / max(inst['redis']['requests'], 1):.2f} per request: `reset_per_ip`, then
`reset_per_user` for the refused link). One key takes {inst['redis']['key_bytes']} bytes
(`MEMORY USAGE`, default prefix); with limits this high each expires within
milliseconds of its last request, so few are alive at any moment.

Raw bcrypt at cost {COST} on {r['bcrypt_threads']} thread(s) — as many as
`pwreset` hashes on by default here (`PWRESET_BCRYPT_CONCURRENCY` = cores, below the request threads' priority):
**{r['bcrypt_raw']:.1f} hashes/s**.
Resets answered other than code 0: {r['reset'].get('not_success', 'n/a')}.
Seeding {r['big_tokens']:,} tokens took {r['seed_big_seconds']:.0f} s.

## Targets

| # | what | measured | target | |
|---|---|---|---|---|
| 1 | refusal throughput, SQLite ÷ bare handler | {refusal_ratio:.0%} ({sq['rps']:,.0f} ÷ {bare['rps']:,.0f}) | ≥ 60% | {ok(refusal_ratio >= 0.6)} |
| 1 | refusal throughput, PostgreSQL ÷ bare handler | {ratio(pg['rps'], bare['rps']):.0%} ({pg['rps']:,.0f} ÷ {bare['rps']:,.0f}); p99 {pg['p99']:.1f} ms at 32 connections | ≥ 30% | {ok(ratio(pg['rps'], bare['rps']) >= 0.3)} |
| 2 | reset throughput ÷ raw bcrypt on {r['bcrypt_threads']} thread(s) | {reset_ratio:.0%} ({r['reset']['rps']:.1f} ÷ {r['bcrypt_raw']:.1f}); reset p99 {r['reset']['p99']:.0f} ms | ≥ 95% | {ok(reset_ratio >= 0.95)} |
| 3 | refusal p99 under bcrypt load ÷ unloaded | {mixed_ratio:.1f}× ({r['refusal_mixed']['p99']:.2f} ÷ {r['refusal_unloaded_resets_db']['p99']:.2f} ms) | ≤ 5× | {ok(mixed_ratio <= 5)} |
| 4 | refusal p50, {r['big_tokens']:,} ÷ 1,000 tokens | {scale_ratio:.2f} ({r['scale_big']['p50']:.3f} ÷ {r['scale_small']['p50']:.3f} ms) | ≤ 1.3 | {ok(scale_ratio <= 1.3)} |
| 5 | POST median, known ÷ unknown address | {oracle_ratio:.2f} ({r['request_known']['p50']:.3f} ÷ {unknown_p50:.3f} ms) | 0.8–1.25 | {ok(0.8 <= oracle_ratio <= 1.25)} |
| 5 | the same under load on PostgreSQL (16 connections of known addresses) | {loaded_ratio:.2f} ({loaded_known['p50']:.3f} ÷ {loaded_unknown['p50']:.3f} ms); p99 {loaded_known['p99']:.1f} vs {loaded_unknown['p99']:.1f} ms | 0.8–1.25 | {ok(0.8 <= loaded_ratio <= 1.25)} |
| 6 | peak RSS of the server under refusal load | {r['peak_rss_mib']:.1f} MiB | < 64 MiB | {ok(r['peak_rss_mib'] < 64)} |

## Micro-benchmarks (criterion, median)

| benchmark | time |
|---|---|
{micro}

{FINDINGS}
"""


FINDINGS_FILE = BENCH / "findings.md"
FINDINGS = FINDINGS_FILE.read_text() if FINDINGS_FILE.exists() else ""

if __name__ == "__main__":
    main()
