"""The crowd at the opening: the real server under ten times what it can answer, with and
without the waiting room (booking/waiting_room.py), in one run.

1. A fresh PostgreSQL schema and Redis database, the real server (``wx-backend serve``:
   gunicorn with ONE worker, PostgreSQL, Redis), and CROWD verified residents.
2. Capacity: bookings from a few clients at a time on a window that cannot sell out. The
   booking rate measured here is "what the server can answer" (C).
3. Without the room: a crowd arriving at C a second (at capacity), then one at 10 x C a
   second (overload), each for SECONDS, presses "book" at the opening, each resident as
   the mini-program does it (one Idempotency-Key per tap, the same key again after
   ``busy`` or a lost answer, another store with stock left after ``store_full``).
4. With the room (admitting C a second): the same crowds joined before the opening; the
   room closes its early group a minute before it and orders them by the next round of a
   local fake of the randomness beacon (a round every 3 s), each learns their place and
   the moment of their turn, and books at that moment.
5. Prints, for each run: answers by kind and code, p50/p99 of each kind, bookings a second
   while stock lasted, time to sell out, 5xx and requests left unanswered after the
   server's own timeout (30 s), oversold and double-booked, the CPU the server and the
   load generator used; then the bookings a second under overload against those at
   capacity, with and without the room.

The load generator stands in for the CDN and load balancer in front: it holds the
residents' requests and forwards them over EDGE keep-alive connections (a request that has
waited 30 s is dropped, as the balancer would), and keeps answers marked
``Cache-Control: public, max-age=N`` for N seconds, as a CDN does (the room's public state,
which waiting pages read every few seconds). It runs on the same two cores as the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis
from booking import (
    audit,
    free_port,
    fresh_run,
    new_campaign,
    prepare,
    server_env,
    stop,
    tear_down,
    wait_ready,
)

from wx_backend.dev.fakes.beacon import FakeBeaconServer

SERVER_TIMEOUT = 30.0  # gunicorn's own worker timeout
STORES = 100  # each may sell twice its even share, so the last portions are not a hunt
_CODE = re.compile(rb'"code": ?"([a-z_]+)"')
_PUBLIC = re.compile(rb"(?i)cache-control: *public, *max-age=(\d+)")
PUBLIC_CHECK = 3.0  # seconds between a waiting page's looks at the room's public state
PUBLIC_MAX_AGE = 2.0  # seconds the CDN keeps it (the server's Cache-Control)


def family(root: int) -> list[int]:
    """``root`` and every process below it (the server's gunicorn master and workers)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children[int(fields[1])].append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


SERVER: list[int] = []  # the server's processes, for the CPU figures


class Unanswered(Exception):
    """No answer within the server's timeout (or the connection broke twice)."""


class Edge:
    """Residents' requests forwarded over ``size`` keep-alive connections to the server."""

    def __init__(self, base: str, size: int):
        self.host, port = base.split("//")[1].split(":")
        self.port = int(port)
        self.size = size
        self.queue: asyncio.Queue = asyncio.Queue()
        self.records: list[tuple[str, int, str, float, float]] = []
        self.began = time.perf_counter()
        self.workers: list[asyncio.Task] = []
        self.cache: dict[str, tuple[float, int, dict]] = {}  # parsed once, as a CDN keeps it
        self.fetching: dict[str, asyncio.Future] = {}  # cacheable GETs on their way
        self.cdn_hits = 0

    def start(self) -> None:
        self.workers = [asyncio.create_task(self._connection()) for _ in range(self.size)]
        self.workers.append(asyncio.create_task(self._sample()))

    async def _sample(self) -> None:
        """Every half second: (clock, server CPU s, load generator CPU s)."""
        self.samples: list[tuple[float, float, float]] = []
        while True:
            self.samples.append((time.perf_counter(), cpu_seconds(SERVER), time.process_time()))
            await asyncio.sleep(0.5)

    def cpu_share(self, until: float) -> tuple[float, float]:
        """Cores the server and the load generator used from the opening to ``until``."""
        inside = [s for s in self.samples if 0 <= s[0] - self.began <= until + 0.5]
        if len(inside) < 2:
            return float("nan"), float("nan")
        (t0, server0, own0), (t1, server1, own1) = inside[0], inside[-1]
        return (server1 - server0) / (t1 - t0), (own1 - own0) / (t1 - t0)

    async def close(self) -> None:
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)

    async def call(self, kind: str, method: str, path: str, body=None, headers=None):
        """(status, parsed JSON body); records the answer; raises Unanswered. A GET the CDN
        holds is answered from it (counted, not recorded as the server's answer)."""
        if method == "GET" and not headers:  # what a CDN may answer for everyone
            expires, status, parsed = self.cache.get(path, (0.0, 0, {}))
            if time.perf_counter() < expires:
                self.cdn_hits += 1
                return status, parsed
            if path in self.fetching:  # one request to the server per expiry, as CDNs do
                self.cdn_hits += 1
                return await asyncio.shield(self.fetching[path])
            self.fetching[path] = asyncio.get_running_loop().create_future()
            try:
                answer = await self._call(kind, method, path, body, headers)
                self.fetching.pop(path).set_result(answer)
                return answer
            except Unanswered:
                self.fetching.pop(path).set_exception(Unanswered())
                raise
        return await self._call(kind, method, path, body, headers)

    async def _call(self, kind: str, method: str, path: str, body, headers):
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(payload)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        future = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        self.queue.put_nowait((raw, future, started + SERVER_TIMEOUT))
        try:
            status, head, data = await asyncio.wait_for(future, SERVER_TIMEOUT)
        except (asyncio.TimeoutError, Unanswered):
            self.records.append((kind, 0, "unanswered", SERVER_TIMEOUT,
                                 time.perf_counter() - self.began))
            raise Unanswered() from None
        found = _CODE.search(data) if status >= 300 else None
        code = found.group(1).decode() if found else str(status)
        finished = time.perf_counter()
        self.records.append((kind, status, "ok" if status < 300 else code,
                             finished - started, finished - self.began))
        parsed = json.loads(data) if data else {}
        cached = _PUBLIC.search(head) if method == "GET" else None
        if cached:
            self.cache[path] = (finished + int(cached.group(1)), status, parsed)
        return status, parsed

    async def _connection(self) -> None:
        reader = writer = None
        while True:
            raw, future, deadline = await self.queue.get()
            if future.done():
                continue  # the resident gave up while the request waited
            if time.perf_counter() > deadline:
                future.set_exception(Unanswered())
                continue
            for attempt in range(2):
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(self.host, self.port)
                    writer.write(raw)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
                    data = await reader.readexactly(length)
                    if re.search(rb"(?i)connection: *close", head):
                        writer.close()
                        writer = None
                    if not future.done():
                        future.set_result((int(head[9:12]), head, data))
                    break
                except (asyncio.IncompleteReadError, ConnectionError, OSError):
                    # A kept-alive connection the server closed: every request here is safe
                    # to send again (bookings carry an Idempotency-Key, joins keep the place).
                    if writer is not None:
                        writer.close()
                    writer = None
                    if attempt and not future.done():
                        future.set_exception(Unanswered())


async def book_as_resident(edge: Edge, campaign_id: int, token: str, stores: list[int],
                           chooser: random.Random, admission: str | None = None,
                           until: float = float("inf")) -> str:
    """One tap on 确认预约, as the mini-program does it; answers the final code."""
    key = uuid.uuid4().hex
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    store = chooser.choice(stores)
    tried: set[int] = set()
    network = 0
    for _ in range(8):
        if time.perf_counter() > until:
            return "gave_up"
        body = {"store_id": store}
        if admission:
            body["admission"] = admission
        try:
            status, answer = await edge.call("booking", "POST",
                                              f"/api/v1/campaigns/{campaign_id}/bookings",
                                              body, headers)
        except Unanswered:
            network += 1
            if network > 2:
                return "unanswered"
            await asyncio.sleep(1)
            continue
        if status == 201:
            return "ok"
        code = answer.get("error", {}).get("code", str(status))
        if code == "store_full":  # 换一家药店: another tap, another key
            tried.add(store)
            store = await another_store(edge, campaign_id, stores, tried, chooser)
            headers["Idempotency-Key"] = uuid.uuid4().hex
            continue
        if code in ("busy", "unavailable", "too_many_attempts", "admission_not_yet"):
            await asyncio.sleep(float(answer["error"].get("retry_after", 1)))
            continue
        return code
    return "gave_up"


async def another_store(edge: Edge, campaign_id: int, stores: list[int], tried: set[int],
                        chooser: random.Random) -> int:
    """The store a resident picks after 该药店已约满: one the list shows with stock left
    (the open stock feed, which the CDN holds for a few seconds), not one tried before."""
    try:
        feed = (await edge.call("stock", "GET",
                                f"/public/campaigns/{campaign_id}/stock.json"))[1]
    except Unanswered:
        feed = {}
    shown = [s["id"] for s in feed.get("stores", []) if s["left"] and s["id"] not in tried]
    return chooser.choice(shown or [s for s in stores if s not in tried] or stores)


class PublicState:
    """The room's public state as the CDN holds it: fetched from the server once every
    ``PUBLIC_MAX_AGE`` seconds (the CDN's one request per expiry); ``ended`` is set once it
    says the room is over. Every waiting page reads this copy every ``PUBLIC_CHECK``
    seconds; rather than send a hundred thousand reads to the CDN the load generator would
    have to answer, a page learns what the copy says at a random moment of its next
    ``PUBLIC_CHECK`` seconds, which is when the real page would."""

    def __init__(self, edge: Edge, campaign_id: int):
        self.ended = asyncio.Event()
        self.status = ""
        self.since = 0.0
        self.task = asyncio.create_task(self._follow(edge, campaign_id))

    async def _follow(self, edge: Edge, campaign_id: int) -> None:
        while True:
            try:
                status, public = await edge.call("public", "GET",
                                                 f"/api/v1/campaigns/{campaign_id}/room")
                if status == 200 and public["status"] in ("sold_out", "closed"):
                    self.status, self.since = public["status"], time.perf_counter()
                    self.ended.set()
                    return
            except Unanswered:
                pass
            await asyncio.sleep(PUBLIC_MAX_AGE)

    def known(self) -> str | None:
        """What a page that looks now has learnt (it looks every PUBLIC_CHECK seconds)."""
        if self.ended.is_set() and time.perf_counter() - self.since > random.uniform(
                0, PUBLIC_CHECK):
            return self.status
        return None

    async def wait(self, seconds: float) -> str | None:
        """Sleep ``seconds``, or until the page learns the room is over (its status)."""
        try:
            await asyncio.wait_for(asyncio.shield(self.ended.wait()), seconds)
        except asyncio.TimeoutError:
            return self.known()
        await asyncio.sleep(random.uniform(0, PUBLIC_CHECK))
        return self.status


async def queue_as_resident(edge: Edge, campaign_id: int, token: str, stores: list[int],
                            chooser: random.Random, joined: dict, until: float,
                            public: PublicState) -> str:
    """From the place taken before the opening: wait as told, book at the turn."""
    room = joined
    path = f"/api/v1/campaigns/{campaign_id}/room?ticket="
    while time.perf_counter() < until:
        if room["status"] == "admitted":
            return await book_as_resident(edge, campaign_id, token, stores, chooser,
                                          room["admission"])
        if room["status"] in ("sold_out", "closed"):
            return room["status"]
        over = await public.wait((room.get("poll_after_ms") or 1000) / 1000)
        if over:
            return over
        if room.get("admission"):  # handed ahead of the turn, which has now come
            return await book_as_resident(edge, campaign_id, token, stores, chooser,
                                          room["admission"])
        try:
            status, answer = await edge.call("poll", "GET", path + room["ticket"])
        except Unanswered:
            continue
        if status == 200:
            room = answer
    return "still_waiting"


def opening_in(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


async def capacity(base: str, app, tokens: list[str], args) -> float:
    """Bookings a second from ``args.edge`` clients at a time on a window that cannot sell
    out: what the server can answer."""
    campaign_id, stores = new_campaign(app, f"crowd-capacity-{uuid.uuid4().hex[:6]}",
                                       len(tokens) * 20, STORES)
    edge = Edge(base, args.edge)
    edge.start()
    chooser = random.Random(1)
    began = time.perf_counter()
    await asyncio.gather(*(book_as_resident(edge, campaign_id, token, stores, chooser)
                           for token in tokens))
    seconds = time.perf_counter() - began
    await edge.close()
    done = Counter(r[2] for r in edge.records)
    print(f"  capacity: {done['ok']} bookings in {seconds:.2f} s = "
          f"{done['ok'] / seconds:.0f} bookings/s ({dict(done)})")
    return done["ok"] / seconds


async def crowd_without_room(base: str, app, tokens: list[str], stock: int, rate: float,
                             args) -> tuple[Edge, int, float]:
    """The crowd presses 确认预约 at the opening, ``rate`` new residents a second."""
    campaign_id, stores = new_campaign(app, f"crowd-plain-{uuid.uuid4().hex[:6]}", stock,
                                       STORES, stock * 2 // STORES)
    edge = Edge(base, args.edge)
    edge.start()
    chooser = random.Random(2)

    opened = time.perf_counter()
    edge.began = opened
    until = opened + args.limit

    async def resident(n: int, token: str):
        await asyncio.sleep(n / rate)
        return await book_as_resident(edge, campaign_id, token, stores, chooser, until=until)

    outcomes = await asyncio.gather(*(resident(n, t) for n, t in enumerate(tokens)))
    await edge.close()
    print(f"  residents' outcomes: {dict(Counter(outcomes))}")
    return edge, campaign_id, opened


async def crowd_with_room(base: str, app, tokens: list[str], stock: int, admit: int,
                          args) -> tuple[Edge, int, float]:
    """The same crowd joins the room before the opening, then polls and books."""
    join_seconds = len(tokens) / (admit * 1.5)
    opens = opening_in(join_seconds + 5 + args.sort_before)
    campaign_id, stores = new_campaign(
        app, f"crowd-room-{uuid.uuid4().hex[:6]}", stock, STORES, stock * 2 // STORES,
        opens_at=opens,
        extra={"waiting_room": {"enabled": True, "admit_per_second": admit,
                                "sort_before_seconds": args.sort_before}})
    edge = Edge(base, args.edge)
    edge.start()
    chooser = random.Random(3)
    joined: list[dict | None] = [None] * len(tokens)

    async def join(n: int, token: str):
        await asyncio.sleep(n / len(tokens) * join_seconds)
        for _ in range(3):
            try:
                status, answer = await edge.call(
                    "join", "POST", f"/api/v1/campaigns/{campaign_id}/room", None,
                    {"Authorization": f"Bearer {token}"})
            except Unanswered:
                continue
            if status == 200:
                joined[n] = answer
                return

    began = time.perf_counter()
    await asyncio.gather(*(join(n, t) for n, t in enumerate(tokens)))
    took = time.perf_counter() - began
    print(f"  {sum(1 for j in joined if j)} of {len(tokens)} joined in {took:.1f} s before "
          f"the opening ({len(tokens) / took:.0f} joins/s)")
    wait = (opens - datetime.now(timezone.utc)).total_seconds()
    if wait < 0:
        print("  warning: the joins ran past the opening")
    opened = time.perf_counter() + max(wait, 0)
    edge.began = opened
    until = opened + args.limit

    public = PublicState(edge, campaign_id)

    async def resident(n: int, token: str):
        if joined[n] is None:
            return "not_joined"
        # The page waits as the join's answer said.
        return await queue_as_resident(edge, campaign_id, token, stores, chooser, joined[n],
                                       until, public)

    outcomes = await asyncio.gather(*(resident(n, t) for n, t in enumerate(tokens)))
    public.task.cancel()
    await edge.close()
    print(f"  residents' outcomes: {dict(Counter(outcomes))}")
    return edge, campaign_id, opened


def report(name: str, edge: Edge, stock: int, capacity_rate: float, database: str,
           campaign_id: int) -> dict:
    """Print the run's figures; answers them for the comparison."""
    records = [r for r in edge.records if r[4] >= 0]  # from the opening on
    print(f"{name}:")
    by_kind: dict[str, list] = defaultdict(list)
    for record in records:
        by_kind[record[0]].append(record)
    for kind, rows in sorted(by_kind.items()):
        codes = Counter(r[2] for r in rows)
        times = sorted(r[3] for r in rows)
        p50, p99 = times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000
        print(f"  {kind:<8} {len(rows):>7} answers  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
              f"{dict(codes.most_common())}")
        for code, count in codes.most_common(4):
            kind_times = sorted(r[3] for r in rows if r[2] == code)
            print(f"  {'':<8} {code:<18} {count:>7}  p50 "
                  f"{kind_times[len(kind_times) // 2] * 1000:7.1f} ms  p99 "
                  f"{kind_times[int(len(kind_times) * 0.99)] * 1000:7.1f} ms")
    ok = sorted(r[4] for r in records if r[0] == "booking" and r[2] == "ok")
    each = Counter(int(t) for t in ok)
    print("  bookings in each second from the opening: "
          + " ".join(str(each[n]) for n in range(int(ok[-1]) + 1 if ok else 0)))
    # A refusal answered before the last successful booking was even sent was wrong: a
    # portion was still there (answers that cross in flight are not counted).
    last_asked = max((r[4] - r[3] for r in records if r[0] == "booking" and r[2] == "ok"),
                     default=0.0)
    wrong = sum(1 for r in records
                if r[0] == "booking" and r[2] == "sold_out" and r[4] < last_asked)
    if wrong:
        print(f"  told sold out while a portion was still there: {wrong}")
    server_errors = sum(1 for r in records if r[1] >= 500)
    unanswered = sum(1 for r in records if r[2] == "unanswered")
    oversold, double, over_cap, confirmed = audit(database, campaign_id, stock)
    sold_out_at = ok[-1] if ok else float("nan")
    rate = len(ok) / sold_out_at if ok else 0.0
    server_cores, generator_cores = edge.cpu_share(sold_out_at)
    print(f"  while stock lasted the server used {server_cores:.2f} cores, the load generator"
          f" {generator_cores:.2f}")
    print(f"  bookings: {confirmed} of {stock} portions given out; last at {sold_out_at:.2f} s"
          f" after the opening; {rate:.0f} bookings/s while stock lasted"
          f" = {rate / capacity_rate:.2f} x capacity")
    if edge.cdn_hits:
        print(f"  {edge.cdn_hits} reads answered by the CDN (the room's public state, the stock "
              "feed)")
    print(f"  5xx {server_errors}; unanswered after {SERVER_TIMEOUT:.0f} s {unanswered}; "
          f"oversold {oversold}; double-booked {double}; stores over cap {over_cap}")
    return {"rate": rate, "sold_out": sold_out_at, "confirmed": confirmed,
            "errors": server_errors, "unanswered": unanswered,
            "broken": oversold + double + over_cap}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="how long the crowd keeps arriving without the room")
    parser.add_argument("--overload", type=float, default=10.0,
                        help="the crowd's arrivals a second, as a multiple of capacity")
    parser.add_argument("--edge", type=int, default=32,
                        help="connections from the balancer (the load generator) to the server")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--limit", type=float, default=60.0,
                        help="seconds after the opening a run may last")
    parser.add_argument("--sort-before", type=int, default=60,
                        help="seconds before the opening the room orders its early joiners")
    parser.add_argument("--quick", action="store_true", help="a small run")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.overload, args.sort_before = 1.0, 4.0, 12

    schema, scoped, instance = fresh_run(args.database_url, args.redis_url, "crowd")
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    # The room's order comes from the beacon: a local fake of it, as the tests use.
    beacon = FakeBeaconServer().start()
    env = {**server_env(scoped, args.redis_url, instance), "DRAW_BEACON_URL": beacon.base_url}
    processes = []
    try:
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "WXB_MODE",
                                               "WXB_INSTANCE_PATH", "SECRET_KEY", "PII_KEY",
                                               "PII_INDEX_KEY", "DRAW_BEACON_URL")})
        port = free_port()
        log = instance / "server.log"
        setup = time.perf_counter()
        app, made = prepare(3300)
        tokens = [m.token for m in made]
        real = subprocess.Popen([sys.executable, "-m", "wx_backend.cli.main", "serve", "--bind",
                                 f"127.0.0.1:{port}", "--workers", "1", "--threads",
                                 str(args.threads), "--no-access-log", "--no-jobs",
                                 # gunicorn's worker timeout ends a stuck request at
                                 # SERVER_TIMEOUT; the figures below count on it.
                                 "--server", "gunicorn"],
                                env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        processes.append(real)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/healthz", real, log)
        SERVER.extend(family(real.pid))
        print(f"crowd benchmark: the real server with one worker x {args.threads} threads, "
              f"{args.edge} connections from the balancer")
        asyncio.run(capacity(base, app, tokens[:300], args))  # warm-up, not counted
        capacity_rate = statistics.median(
            asyncio.run(capacity(base, app, tokens[300 + n * 1000:1300 + n * 1000], args))
            for n in range(3))
        stock = int(capacity_rate * args.seconds) // STORES * STORES
        admit = round(capacity_rate)
        loads = (1.0, args.overload)
        more = prepare_more(app, int(capacity_rate * args.overload * args.seconds))
        print(f"  set-up took {time.perf_counter() - setup:.1f} s; capacity C = "
              f"{capacity_rate:.0f} bookings/s (from {args.edge} clients at once); "
              f"{stock} portions a run; crowds arrive at "
              f"{' and '.join(f'{load:g} x C' for load in loads)} a second for "
              f"{args.seconds:g} s; the room admits C = {admit} a second")
        results = {}
        for load in loads:
            crowd = more[:int(capacity_rate * load * args.seconds)]
            edge, campaign_id, _ = asyncio.run(crowd_without_room(
                base, app, crowd, stock, capacity_rate * load, args))
            results["without", load] = report(
                f"without the room, {len(crowd)} residents at {load:g} x C a second", edge,
                stock, capacity_rate, scoped, campaign_id)
            edge, campaign_id, _ = asyncio.run(crowd_with_room(base, app, crowd, stock, admit,
                                                               args))
            results["with", load] = report(
                f"with the room, the same {len(crowd)} residents", edge, stock, capacity_rate,
                scoped, campaign_id)

        print("bookings a second while stock lasted, at capacity and under overload "
              "(required with the room: overload >= 0.9 x capacity, no 5xx, nothing "
              "unanswered, every portion given out):")
        for room in ("with", "without"):
            low, high = results[room, loads[0]], results[room, loads[1]]
            print(f"  {room + ' the room':<17} {low['rate']:6.0f} at {loads[0]:g} x C, "
                  f"{high['rate']:6.0f} at {loads[1]:g} x C: ratio "
                  f"{high['rate'] / low['rate'] if low['rate'] else float('nan'):.2f}; "
                  f"under overload {high['errors']} 5xx, {high['unanswered']} unanswered, "
                  f"{high['confirmed']} of {stock} given out, "
                  f"{high['rate'] / capacity_rate:.2f} x the closed-loop capacity")
        broken = sum(r["broken"] for r in results.values())
        return 1 if broken else 0
    finally:
        for process in processes:
            stop(process)
        beacon.stop()
        tear_down([], args.database_url, schema, client)


def prepare_more(app, count: int) -> list[str]:
    """``count`` more verified residents with tokens (beyond those ``prepare`` made)."""
    from wx_backend.dev.residents import make_residents
    from wx_backend.extensions import db, pii

    with app.app_context():
        made = make_residents(db.session, pii.vault, app.extensions["redis"], count, "crowd",
                              ttl=6 * 3600, first=10_000)
        db.session.remove()
    return [m.token for m in made]


if __name__ == "__main__":
    sys.exit(main())
