"""Booking benchmark (DESIGN.md §8): the real server against its two peers, in one run.

1. A fresh PostgreSQL schema and Redis database; migrations; a campaign with 100 stores
   and one window open now with STOCK portions (each store STOCK/100).
2. 10 x STOCK verified residents with tokens, made in bulk (not through SMS).
3. The real server (``wx-backend serve``; granian, or ``--server gunicorn``) takes one
   booking per resident, each at a random store, from CONCURRENCY parallel clients; then
   the same number again, all of which should be answered ``sold_out`` (from memory).
4. The ceiling (a bare Flask view, one Redis Lua call) and the database peer (one
   PostgreSQL transaction) under the same server and settings take the same load.
5. Prints confirmed, rejected by reason, oversold, double-booked, throughput, p50/p99 and
   the ratios; exits non-zero if anything was oversold or double-booked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import psycopg
import redis
import requests

from wx_backend.dev.clusters import LocalCluster

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + 90
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.2)
    sys.exit(f"server not ready:\n{log.read_text()[-3000:]}")


_CODE = re.compile(rb'"code": ?"([a-z_]+)"')


async def fire(base: str, jobs, concurrency: int):
    """Send every (url, json, headers) job once over ``concurrency`` keep-alive connections.

    A minimal HTTP/1.1 client on asyncio streams with the requests encoded in advance, so
    that the load generator spends as little of the machine's two cores as it can.
    Returns (seconds, [(status, code, latency, finished after)]).
    """
    host, port = base.split("//")[1].split(":")
    encoded = []
    for url, body, headers in jobs:
        payload = json.dumps(body, separators=(",", ":")).encode()
        head = [f"POST {url[len(base):]} HTTP/1.1", f"Host: {host}:{port}",
                "Content-Type: application/json", f"Content-Length: {len(payload)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        encoded.append(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    results = [None] * len(encoded)
    position = iter(range(len(encoded)))

    async def connection():
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for n in position:
                started = time.perf_counter()
                writer.write(encoded[n])
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                body = await reader.readexactly(length)
                if status == 201:
                    code = "ok"
                else:
                    found = _CODE.search(body)
                    code = found.group(1).decode() if found else str(status)
                finished = time.perf_counter()
                results[n] = (status, code, finished - started, finished - began)
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - began, results


def measure(name: str, base: str, jobs, args) -> dict:
    """Run one phase with the raw keep-alive client and summarise it."""
    seconds, results = asyncio.run(fire(base, jobs, args.concurrency))
    return summarise(name, seconds, results)


def profile(args, server: subprocess.Popen, round_no: int):
    """py-spy recording the server's processes (round 1's full phase, with --profile)."""
    if not args.profile or round_no != 1:
        return None
    folder = Path(args.profile)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "booking.collapsed"
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                            str(server.pid), "--subprocesses", "--format", "raw", "--rate",
                            "250", "--nonblocking", "--gil", "-o", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    print(f"  profiling the server into {out}")
    return spy


def selling(phases: dict, stock: int, rows_alone: float) -> None:
    """The phase residents feel: from the first request to the last portion given out;
    with the time our rows alone took (``row_floor``) against the targets' budgets."""
    last = {name: statistics.median(r["last"] for r in runs)
            for name, runs in phases.items() if name != "sold_out"}
    print("while stock lasts (medians; the crowd is ten times the stock):")
    for name, label in (("full", "ours"), ("ceiling", "ceiling (Redis only)"),
                        ("database", "database peer")):
        print(f"  {label:<22} last portion after {last[name]:6.2f} s   "
              f"{stock / last[name]:7.0f} bookings/s")
    print(f"  ours / ceiling             {last['full'] / last['ceiling']:.2f}x the time"
          "  (target <= 2)")
    print(f"  ours / database peer       {last['full'] / last['database']:.2f}x the time"
          "  (target <= 0.5)")
    budget = min(last["database"] * 0.5, last["ceiling"] * 2)
    print(f"  the targets leave ours {budget:.2f} s; our {stock} rows alone, written in this "
          f"process with no HTTP and no Redis, took {rows_alone:.2f} s "
          f"({rows_alone / budget:.0%} of it)")


def stock_nodes(app) -> list:
    """Clients of every server holding our stock (each master of a cluster)."""
    client = app.extensions["stock"].client
    if hasattr(client, "get_primaries"):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def _commands(clients) -> Counter:
    """Microseconds spent per command so far, summed over ``clients``' servers."""
    spent: Counter = Counter()
    for client in clients:
        for name, stats in client.info("commandstats").items():
            if name.startswith("cmdstat_"):
                spent[name[8:]] += float(stats["usec"])
    return spent


def _usec(clients) -> float:
    """CPU the servers have used so far (user + system, µs): what a shard can spend, with
    its networking; commandstats alone counts a script's inner commands twice."""
    total = 0.0
    for client in clients:
        cpu = client.info("cpu")
        total += (float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])) * 1e6
    return total


def redis_costs(app, base: str, tokens: list[str], stores: int, args, nodes,
                main: redis.Redis | None) -> dict:
    """Redis CPU per attempt for each outcome, from INFO commandstats around phases that
    answer (almost) only that outcome: (our stock's Redis, the main Redis; None when they
    are one server)."""
    each = max(1, min(20, len(tokens) // (stores * 8)))
    campaign_id, store_ids = new_campaign(app, "bench-costs", stores * each * 2, stores,
                                          cap=each * 2)
    url = f"{base}/api/v1/campaigns/{campaign_id}/bookings"

    def jobs_for(people, pick):
        return [(url, {"store_id": pick(n)}, {"Authorization": f"Bearer {token}"})
                for n, token in enumerate(people)]

    def phase(jobs, label: str):
        before = (_usec(nodes), _commands(nodes), _usec([main]) if main else 0.0)
        asyncio.run(fire(base, jobs, args.concurrency))
        after = (_usec(nodes), _commands(nodes), _usec([main]) if main else 0.0)
        spent = after[1] - before[1]
        top = ", ".join(f"{name} {usec / len(jobs):.1f}" for name, usec in spent.most_common(4))
        print(f"  {label}: stock Redis commandstats µs per attempt (a script's inner "
              f"commands also under their own names): {top}")
        return ((after[0] - before[0]) / len(jobs),
                (after[2] - before[2]) / len(jobs) if main else None)

    # Loaded before measuring: a window is loaded once, ahead of its opening.
    requests.get(f"{base}/api/v1/campaigns/{campaign_id}/stores", timeout=30)
    first = tokens[:stores * each]
    costs = {"ok": phase(jobs_for(first, lambda n: store_ids[n % stores]), "ok"),
             "already_booked": phase(jobs_for(first, lambda n: store_ids[n % stores]),
                                     "already_booked")}
    one_store = tokens[stores * each:stores * each + each * 20]
    costs["store_full"] = phase(jobs_for(one_store, lambda n: store_ids[0]), "store_full")
    rest = tokens[stores * each + each * 20:stores * each * 4]
    asyncio.run(fire(base, jobs_for(rest, lambda n: store_ids[n % stores]), args.concurrency))
    late = tokens[stores * each * 4:stores * each * 6]
    costs["sold_out"] = phase(jobs_for(late, lambda n: store_ids[n % stores]), "sold_out")
    return costs


def row_floor(app, people, stores: int, threads: int) -> float:
    """Seconds to write one booking row for each of ``people`` (a fresh window of as many
    portions), through the group committer from ``threads`` threads of this process: the
    same rows ``first_come.book`` writes, with no HTTP, no session and no Redis. Every
    booking pays this part, so it is a floor under the selling phase here."""
    from concurrent.futures import ThreadPoolExecutor

    from wx_backend.booking import first_come, group_commit
    from wx_backend.booking.stock import Taken
    from wx_backend.core import clock
    from wx_backend.extensions import db
    from wx_backend.models import Booking

    campaign_id, store_ids = new_campaign(app, "bench-rows", len(people), stores)
    with app.app_context():
        now = clock.now()
        snapshot = app.extensions["directory"].snapshot(db.session, campaign_id, now)
        window = snapshot.window_at(now)
        rows = [first_come.booking_row(
            snapshot, window, store_ids[n % stores],
            first_come.Booker(person.id, person.person_key),
            Taken("ok", unit=n + 1, store_slot=n // stores + 1, ticket=n + 1), 0, now)
            for n, person in enumerate(people)]
        group = group_commit.GroupCommit(db.engine, Booking.__table__,
                                         in_flight=app.config["GROUP_COMMIT_STATEMENTS"])
        db.session.remove()

    def write(values):
        with app.app_context():
            return group.insert(values)

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        written = list(pool.map(write, rows))
    seconds = time.perf_counter() - began
    assert len(set(written)) == len(rows)
    print(f"our booking rows alone: {len(rows)} rows in {seconds:.2f} s = "
          f"{len(rows) / seconds:.0f} rows/s, {group.rows / group.statements:.1f} rows per "
          f"statement ({threads} threads, group commit, no HTTP or Redis)")
    return seconds


def summarise(name: str, seconds: float, results) -> dict:
    latencies = sorted(r[2] for r in results)
    codes = Counter(r[1] for r in results)
    rate = len(results) / seconds
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(f"  {name:<22} {len(results):>7} req in {seconds:6.2f} s = {rate:8.0f} req/s"
          f"   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   {dict(codes)}")
    successes = [r[3] for r in results if r[0] == 201]
    if successes:
        booked = sorted(r[2] for r in results if r[0] == 201)
        print(f"  {'':<22} last portion given out {max(successes):.2f} s after the start;"
              f" a booking took p50 {booked[len(booked) // 2] * 1000:.1f} ms,"
              f" p99 {booked[int(len(booked) * 0.99)] * 1000:.1f} ms")
    return {"rate": rate, "p50": p50, "p99": p99, "codes": codes,
            "last": max(successes) if successes else float("nan")}


def fresh_run(database_url: str, redis_url: str, prefix: str = "bench") -> tuple[str, str, Path]:
    """A run's own PostgreSQL schema (its name, and the database URL scoped to it) and
    instance folder; empties the run's Redis database."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in database_url else "?"
    scoped = f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"
    redis.Redis.from_url(redis_url).flushdb()
    instance = Path(os.environ.get("TMPDIR", "/tmp")) / f"wxb-{schema}"
    instance.mkdir(parents=True, exist_ok=True)
    return schema, scoped, instance


def server_env(database_url: str, redis_url: str, instance: Path) -> dict:
    from wx_backend.core.pii import new_key_spec

    return {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "WXB_MODE": "development", "WXB_INSTANCE_PATH": str(instance),
            "SECRET_KEY": "bench-secret", "PII_KEY": new_key_spec("b1"),
            "PII_INDEX_KEY": new_key_spec("bx"), "LOG_LEVEL": "WARNING",
            # Every resident of a benchmark comes from 127.0.0.1: the per-address limit
            # would stop the crowd at once, which is what it is for, not what is measured.
            "ATTEMPTS_PER_ADDRESS": "0"}


def peer_command(args, bind: str, module: str, app: str) -> list[str]:
    """A peer's server: the command ``serve`` runs ours with (``--server``, workers and
    threads), serving the peer's module from this folder."""
    from wx_backend.cli.main import granian_command, gunicorn_command

    build = granian_command if args.server == "granian" else gunicorn_command
    return build(bind, args.workers, args.threads, False, target=f"{module}:{app}",
                 folder=str(ROOT / "scripts" / "bench"))


def server_arguments(parser: argparse.ArgumentParser, redis_db: int, quick: str) -> None:
    """The options every benchmark of a server against its peers takes."""
    parser.add_argument("--server", choices=("granian", "gunicorn"), default="granian",
                        help="the web server of ours and the peers alike (serve's default)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every phase, interleaved; medians are reported")
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{redis_db}"))


def parse_server_arguments(parser: argparse.ArgumentParser):
    """Parse; a SIGTERM from outside still stops the servers and drops the schema."""
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return args


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stock", type=int, default=10_000, help="portions in the window")
    parser.add_argument("--cluster", type=int, default=0, metavar="N",
                        help="put our stock on a local Redis Cluster of N masters")
    parser.add_argument("--profile", metavar="DIR",
                        help="record the real server's workers with py-spy during round 1's "
                             "full phase (collapsed stacks in DIR)")
    server_arguments(parser, 12, "a small run CI can afford")
    args = parse_server_arguments(parser)
    if args.quick:
        args.stock = 500
    stores = 100
    stock = args.stock - args.stock % stores
    crowd = stock * 10

    schema, scoped, instance = fresh_run(args.database_url, args.redis_url)
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    env = server_env(scoped, args.redis_url, instance)
    processes = []
    cluster = None
    try:
        if args.cluster:
            cluster = LocalCluster(instance / "cluster", args.cluster, 0).start()
            env["STOCK_REDIS_URL"] = cluster.url
            print(f"  our stock on a local Redis Cluster of {args.cluster} masters")
        print(f"booking benchmark: {stock} portions over {stores} stores, {crowd} residents, "
              f"{args.concurrency} clients, {args.server} {args.workers} workers x "
              f"{args.threads} threads, {args.rounds} rounds")
        setup = time.perf_counter()
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "WXB_MODE",
                                               "WXB_INSTANCE_PATH", "SECRET_KEY", "PII_KEY",
                                               "PII_INDEX_KEY") + (
            ("STOCK_REDIS_URL",) if cluster else ())})
        app, made = prepare(crowd)
        tokens = [m.token for m in made]
        print(f"  set-up (schema, {crowd} residents) took {time.perf_counter() - setup:.1f} s")
        with psycopg.connect(scoped, autocommit=True) as connection:
            connection.execute("CREATE TABLE bench_stock (store_id int PRIMARY KEY, units int)")
            connection.execute("CREATE TABLE bench_bookings (id bigserial PRIMARY KEY,"
                               " person text UNIQUE, store_id int)")

        port = free_port()
        log = instance / "server.log"
        real = subprocess.Popen([sys.executable, "-m", "wx_backend.cli.main", "serve", "--bind",
                                 f"127.0.0.1:{port}", "--workers", str(args.workers),
                                 "--threads", str(args.threads), "--server", args.server,
                                 "--no-access-log"],
                                env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        processes.append(real)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/api/v1/openapi.json", real, log)
        port = free_port()
        peer_env = {**env, "BENCH_DATABASE_URL": scoped.replace("postgresql://",
                                                                 "postgresql+psycopg://"),
                    "BENCH_REDIS_URL": args.redis_url}
        peers = subprocess.Popen(peer_command(args, f"127.0.0.1:{port}", "peers", "app"),
                                 env=peer_env,
            stdout=(instance / "peers.log").open("wb"), stderr=subprocess.STDOUT)
        processes.append(peers)
        peer = f"http://127.0.0.1:{port}"
        wait_ready(peer + "/", peers, instance / "peers.log")

        phases = {"full": [], "sold_out": [], "ceiling": [], "database": []}
        failures = 0
        for round_no in range(0, args.rounds + 1):
            # Round 0 warms every worker thread's connections and caches; it is not counted.
            size = stock if round_no else stores
            crowd_now = tokens if round_no else tokens[:size * 10]
            print(f"round {round_no}:" if round_no else "warm-up round (not counted):")
            campaign_id, store_ids = new_campaign(app, f"bench-{round_no}", size, stores)
            chooser = random.Random(round_no)
            picks = [chooser.choice(store_ids) for _ in crowd_now]
            url = f"{base}/api/v1/campaigns/{campaign_id}/bookings"
            jobs = [(url, {"store_id": store}, {"Authorization": f"Bearer {token}"})
                    for token, store in zip(crowd_now, picks)]
            spy = profile(args, real, round_no)
            results = {"full": measure("full booking path", base, jobs, args)}
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
            results["sold_out"] = measure("sold-out answers", base, jobs, args)
            client.set("bench:ceiling:stock", size)
            results["ceiling"] = measure("ceiling (Redis only)", peer, [
                (f"{peer}/ceiling/{store}", {"store_id": store}, {}) for store in picks], args)
            with psycopg.connect(scoped, autocommit=True) as connection:
                connection.execute("TRUNCATE bench_stock, bench_bookings")
                with connection.cursor() as cursor:
                    cursor.executemany("INSERT INTO bench_stock VALUES (%s, %s)",
                                       [(s, size // stores) for s in store_ids])
            results["database"] = measure("database peer", peer, [
                (f"{peer}/db/{store}", {"store_id": store}, {"X-Person": str(n)})
                for n, store in enumerate(picks)], args)

            oversold, double, over_cap, confirmed = audit(scoped, campaign_id, size)
            rejected = {k: v for k, v in results["full"]["codes"].items() if k != "ok"}
            print(f"  confirmed {confirmed} of {size}; rejected by reason {rejected}; "
                  f"oversold {oversold}; stores over cap {over_cap}; double-booked {double}")
            failures += oversold + double + over_cap
            if round_no:
                for name, result in results.items():
                    phases[name].append(result)

        rows_alone = row_floor(app, made[:stock], stores, args.concurrency)
        costs = redis_costs(app, base, tokens, stores, args, stock_nodes(app),
                            client if cluster else None)
        median = {name: statistics.median(r["rate"] for r in runs)
                  for name, runs in phases.items()}
        p99 = {name: statistics.median(r["p99"] for r in runs) for name, runs in phases.items()}
        print("medians over the rounds:")
        for name, label in (("full", "full booking path"), ("sold_out", "sold-out answers"),
                            ("ceiling", "ceiling (Redis only)"), ("database", "database peer")):
            print(f"  {label:<22} {median[name]:8.0f} req/s   p99 {p99[name]:6.1f} ms")
        print("ratios:")
        print(f"  full path / ceiling        {median['full'] / median['ceiling']:.2f}"
              "  (target >= 0.8)")
        print(f"  full path / database peer  {median['full'] / median['database']:.2f}"
              "  (target >= 1.5)")
        print(f"  sold-out / ceiling         {median['sold_out'] / median['ceiling']:.2f}"
              "  (target >= 2)")
        selling(phases, stock, rows_alone)
        print("Redis CPU per booking attempt, by outcome (INFO cpu, user + system, µs):")
        for outcome, (stock_us, main_us) in costs.items():
            print(f"  {outcome:<15} stock {stock_us:6.1f}" + (
                f"   main Redis {main_us:6.1f}" if main_us is not None
                else "   (stock and main on one Redis)"))
        print(f"oversold + double-booked + stores over cap, all rounds: {failures}")
        return 1 if failures else 0
    finally:
        tear_down(processes, args.database_url, schema, client)
        if cluster is not None:
            cluster.stop()


def tear_down(processes: list, database_url: str, schema: str, client: redis.Redis) -> None:
    """Stop the servers, drop the run's schema and empty its Redis database."""
    for process in processes:
        stop(process)
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
    client.flushdb()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def prepare(crowd: int):
    """Migrate the fresh schema and make the residents; returns (app, the residents made:
    their ids, person keys and tokens)."""
    from flask_migrate import upgrade

    from wx_backend import create_app
    from wx_backend.dev.residents import make_residents
    from wx_backend.extensions import db, pii

    app = create_app()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        made = make_residents(db.session, pii.vault, app.extensions["redis"], crowd, "bench",
                              ttl=6 * 3600)
        db.session.remove()
    return app, made


def new_campaign(app, slug: str, stock: int, stores: int, cap: int | None = None, *,
                 opens_at: datetime | None = None, extra: dict | None = None):
    """A campaign with ``stores`` stores of ``cap`` (stock/stores) each and one window of
    ``stock`` open now (or opening at ``opens_at``); ``extra`` rules on top of the preset."""
    from sqlalchemy import select

    from wx_backend.campaigns import manage
    from wx_backend.campaigns.rules import load_preset
    from wx_backend.extensions import db
    from wx_backend.models import Store

    with app.app_context():
        now = datetime.now(timezone.utc)
        rules = load_preset("zhengzhou")
        rules.update(extra or {})
        rules["windows"] = [{"opens_at": (opens_at or now - timedelta(minutes=1)).isoformat(),
                             "closes_at": (now + timedelta(hours=2)).isoformat(),
                             "quota": stock}]
        rules["store_daily_cap"] = cap or stock // stores
        campaign = manage.create_campaign(db.session, slug, rules, now - timedelta(hours=1))
        lines = ["name,address,district,lat,lng,daily_cap,opening_hours"]
        lines += [f"药店{n},郑州市金水区花园路{n}号,金水区,{34.7 + n / 1000:.4f},"
                  f"{113.6 + n / 1000:.4f},,09:00-18:00" for n in range(stores)]
        manage.import_stores(db.session, campaign, "\n".join(lines), cap or stock // stores)
        manage.plan_windows(db.session, campaign, now.date() - timedelta(days=1), 3, now)
        db.session.commit()
        store_ids = db.session.scalars(select(Store.id).where(
            Store.campaign_id == campaign.id)).all()
        campaign_id = campaign.id
        db.session.remove()
    return campaign_id, store_ids


def audit(database_url: str, campaign_id: int, stock: int):
    """(oversold, people with two bookings, stores over cap, confirmed) from PostgreSQL."""
    with psycopg.connect(database_url) as connection:
        confirmed = connection.execute(
            "SELECT count(*) FROM bookings WHERE campaign_id = %s AND holds_unit",
            (campaign_id,)).fetchone()[0]
        double = connection.execute(
            "SELECT count(*) FROM (SELECT person_key FROM bookings WHERE campaign_id = %s"
            " AND holds_unit GROUP BY person_key HAVING count(*) > 1) twice",
            (campaign_id,)).fetchone()[0]
        over = connection.execute(
            "SELECT count(*) FROM (SELECT b.store_id FROM bookings b JOIN stores s"
            " ON s.id = b.store_id WHERE b.campaign_id = %s AND b.holds_unit"
            " GROUP BY b.store_id, s.daily_cap HAVING count(*) > s.daily_cap) o",
            (campaign_id,)).fetchone()[0]
    return max(confirmed - stock, 0), double, over, confirmed


if __name__ == "__main__":
    sys.exit(main())
