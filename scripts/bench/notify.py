"""Notification fan-out benchmark: confirmations after a window closes, through real
workers and a fake SMS provider over HTTP, with a worker killed halfway.

1. A fresh PostgreSQL schema and Redis database; migrations; a campaign with 100 stores and
   one window; COUNT verified residents (distinct phones) and COUNT confirmed bookings,
   written in bulk as the window would have left them.
2. A fake of the provider's HTTP API (Aliyun by default) in this process; WORKERS
   ``wx-backend worker`` processes talking to it through the provider's SDK.
3. The window's closing job is enqueued: it creates one SMS delivery per booking and
   enqueues the batched send jobs. When half the messages have reached the provider, one
   busy worker, its work horse and its scheduler are killed with SIGKILL (not restarted,
   like a machine that dies); the others carry on,
   and the sweep settles the killed worker's batch once its lease lapses, asking the
   provider which of its messages it had accepted.
4. Prints messages per second, the time to the last message, duplicates and losses (both
   must be 0: each resident has one phone and one booking), and, as the peer, what one
   process sending one message per provider call achieves with the same SDK and fake
   (with the same ``--latency`` per call).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking import ROOT, fresh_run, new_campaign, server_env  # noqa: E402  (sibling script)

BOOKINGS = """
INSERT INTO bookings (campaign_id, window_id, store_id, resident_id, person_key,
    rules_version, seq, reservation_no, pickup_code, window_slot, store_slot, pickup_date,
    pickup_starts_at, pickup_ends_at, status, holds_unit, holds_cooldown, cooldown_from,
    cooldown_until, created_at)
SELECT %(campaign)s, %(window)s, (%(stores)s::bigint[])[(r.n - 1) %% %(store_count)s + 1],
    r.id, r.id_number_index, 1, r.n, lpad(r.n::text, 8, '0'),
    lpad((random() * 999999)::int::text, 6, '0'), r.n, (r.n - 1) / %(store_count)s + 1,
    %(pickup_date)s, %(pickup_starts)s, %(pickup_ends)s, 'confirmed', true, true,
    %(cooldown_from)s, %(cooldown_until)s, now() - interval '1 hour'
FROM (SELECT id, id_number_index, row_number() OVER (ORDER BY id) AS n FROM residents) r
"""


def prepare(count: int, stores: int) -> tuple[int, int]:
    """Migrate, make the residents and their bookings; answers (campaign id, window id)."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from wx_backend import create_app
    from wx_backend.dev.residents import make_residents
    from wx_backend.extensions import db, pii
    from wx_backend.models import Window

    app = create_app()
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        make_residents(db.session, pii.vault, app.extensions["redis"], count, "bench",
                       ttl=3600)
        db.session.remove()
    campaign_id, store_ids = new_campaign(app, "bench-notify", count, stores)
    with app.app_context():
        window = db.session.scalars(select(Window).where(Window.campaign_id == campaign_id)
                                    .order_by(Window.opens_at)).first()
        pickup_starts = datetime.now(timezone.utc) + timedelta(hours=20)
        with db.engine.begin() as connection:
            connection.exec_driver_sql(BOOKINGS, {
                "campaign": campaign_id, "window": window.id, "stores": store_ids,
                "store_count": len(store_ids), "pickup_date": window.pickup_date,
                "pickup_starts": pickup_starts, "pickup_ends": pickup_starts + timedelta(hours=9),
                "cooldown_from": window.opens_at,
                "cooldown_until": window.opens_at + timedelta(days=7)})
        window_id = window.id
        db.engine.dispose()
    return campaign_id, window_id


def peer_rate(sender, count: int) -> float:
    """Messages per second of one process, one provider call per message."""
    started = time.perf_counter()
    for n in range(count):
        sender.send(f"137{n:08d}", "booking_cancelled",
                    {"store": "药店", "reservation": f"{n:08d}"})
    return count / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="confirmed bookings")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--provider", choices=("aliyun", "tencent"), default="aliyun")
    parser.add_argument("--no-kill", action="store_true", help="kill no worker")
    parser.add_argument("--peer-count", type=int, default=500,
                        help="messages the one-call-per-message peer sends")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the fake provider takes to answer each call")
    parser.add_argument("--quick", action="store_true",
                        help="1,000 messages and a 5 s lease: a small run CI can afford")
    parser.add_argument("--database-url", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lease = 20
    if args.quick:
        # Slow calls keep the workers busy long enough to be killed in the middle.
        args.count, args.peer_count, lease = 1000, 20, 5
        args.latency = args.latency or 0.1

    from wx_backend.dev.fakes import sms_providers

    if args.provider == "aliyun":
        fake = sms_providers.FakeAliyunSms().start()
        provider_env = {"SMS_BACKEND": "aliyun", "ALIYUN_SMS_ENDPOINT": fake.base_url,
                        "ALIYUN_SMS_ACCESS_KEY_ID": fake.access_key_id,
                        "ALIYUN_SMS_ACCESS_KEY_SECRET": fake.access_key_secret,
                        "SMS_TEMPLATE_CODES": json.dumps(sms_providers.aliyun_template_codes())}
    else:
        fake = sms_providers.FakeTencentSms().start()
        provider_env = {"SMS_BACKEND": "tencent", "TENCENT_SMS_ENDPOINT": fake.base_url,
                        "TENCENT_SMS_SECRET_ID": fake.secret_id,
                        "TENCENT_SMS_SECRET_KEY": fake.secret_key,
                        "TENCENT_SMS_SDK_APP_ID": fake.sdk_app_id,
                        "SMS_TEMPLATE_CODES": json.dumps(sms_providers.tencent_template_codes())}

    schema, scoped, instance = fresh_run(args.database_url, args.redis_url)
    env = {**server_env(scoped, args.redis_url, instance), **provider_env,
           "NOTIFY_LEASE_SECONDS": str(lease), "FAKE_WECHAT": "0",
           "WECHAT_API_BASE_URL": "http://127.0.0.1:9/", "LOG_LEVEL": "WARNING"}
    os.environ.update({k: env[k] for k in env if k.isupper()})
    workers: list[subprocess.Popen] = []
    try:
        print(f"notification benchmark: {args.count} confirmations, {args.workers} workers, "
              f"fake {args.provider} over HTTP ({args.latency:g} s a call), lease {lease} s"
              + ("" if args.no_kill else ", one worker SIGKILLed halfway"))
        setup = time.perf_counter()
        campaign_id, window_id = prepare(args.count, 100)
        print(f"  set-up (schema, residents, bookings) took {time.perf_counter() - setup:.1f} s")

        from wx_backend import create_app, jobs
        from wx_backend.jobs.worker import kill_hard

        app = create_app()
        if args.latency:
            requests.post(fake.base_url + "/fake/latency", json={"seconds": args.latency},
                          timeout=5)
        with app.app_context():
            from wx_backend.sms import sender

            peer = peer_rate(sender(), args.peer_count)
        requests.delete(fake.base_url + "/fake/messages", timeout=5)

        for n in range(args.workers):
            log = (instance / f"worker-{n}.log").open("wb")
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "wx_backend.cli.main", "worker", "--name", f"bench-{n}"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True))
        connection = redis.Redis.from_url(args.redis_url)
        from rq import Worker

        deadline = time.time() + 60
        while len(Worker.all(connection=connection)) < args.workers:
            if time.time() > deadline:
                sys.exit("workers did not start; logs in " + str(instance))
            time.sleep(0.2)

        # Killed while it works on a job, so that it dies holding claimed messages.
        victim = Worker.find_by_key(Worker.redis_worker_namespace_prefix + "bench-0",
                                    connection=connection)
        moment = datetime.now(timezone.utc)
        started = time.time()
        with app.app_context():
            jobs.enqueue("run_once", f"window_close:{window_id}", moment.isoformat(),
                         "close_window", [window_id])
        killed_at = None
        engine = psycopg.connect(scoped, autocommit=True)
        while time.time() - started < args.timeout:
            stats = requests.get(fake.base_url + "/fake/stats", timeout=5).json()
            accepted = stats["messages"]
            if not args.no_kill and killed_at is None and accepted >= args.count // 2:
                victim.refresh()
            if (not args.no_kill and killed_at is None and accepted >= args.count // 2
                    and victim.get_state() == "busy"):
                kill_hard(workers[0].pid)
                workers[0].wait()
                killed_at = time.time() - started
                print(f"  worker bench-0 killed with SIGKILL at {killed_at:.1f} s, "
                      f"{accepted} messages accepted by then ({accepted / killed_at:.0f} msg/s)")
            settled = engine.execute("SELECT count(*) FROM deliveries WHERE status IN "
                                     "('sent', 'failed')").fetchone()[0]
            if settled >= args.count:
                break
            time.sleep(0.1)
        finished = time.time() - started
        statuses = dict(engine.execute(
            "SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())
        records = requests.get(fake.base_url + "/fake/messages", timeout=30).json()["messages"]
        phones = Counter(record["phone"] for record in records)
        from wx_backend.dev import people

        expected = {people.phone(n) for n in range(args.count)}
        duplicates = sum(n - 1 for n in phones.values() if n > 1)
        losses = len(expected - set(phones))
        last = max((record["at"] for record in records), default=started) - started
        rate = len(phones) / last if last > 0 else 0.0
        doubt = Counter()
        for (result,) in engine.execute("SELECT result FROM schedule_runs WHERE task = "
                                        "'notify_sweep' AND result IS NOT NULL"):
            doubt.update({k: v for k, v in json.loads(result).items()
                          if k in ("accepted", "resend", "in_doubt")})
        print(f"  deliveries: {statuses}")
        print(f"  left in doubt by the kill: {doubt['accepted']} found accepted at the provider"
              f" (settled as sent), {doubt['resend']} not accepted (sent again)")
        print(f"  messages delivered     {len(phones):>8}")
        print(f"  time to last message   {last:>8.1f} s   (all settled after {finished:.1f} s)")
        print(f"  messages per second    {rate:>8.0f}")
        print(f"  duplicates             {duplicates:>8}")
        print(f"  losses                 {losses:>8}")
        print(f"  peer (one process, one message per call): {peer:.0f} msg/s; "
              f"ratio {rate / peer:.1f}x")
        if not args.no_kill and killed_at is None:
            print("  no worker was killed: the run ended before one was seen busy")
        met = last < 60 and not duplicates and not losses and (args.no_kill or killed_at)
        print(f"  target: {args.count} messages in under 60 s with 0 duplicates and 0 losses"
              f"{'' if args.no_kill else ' across a worker kill'}: "
              + ("met" if met else "NOT met"))
        return 1 if duplicates or losses else 0
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        fake.stop()
        with psycopg.connect(args.database_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    sys.exit(main())
