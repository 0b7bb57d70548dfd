"""The crowd benchmark's quick mode runs end to end: the real server, a crowd at capacity
and one at four times it, with and without the waiting room, audited for oversold and
double-booked portions.

Timings are printed, never asserted. What is asserted is what must hold on any machine:
the run exits cleanly (it exits non-zero on anything oversold, double-booked or over a
store's cap), every portion is given out, and behind the room the overloaded server
answers every request it is sent, without a 5xx.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.test_bench_booking import other_redis_db

ROOT = Path(__file__).resolve().parents[1]


def test_quick_crowd_benchmark_holds_behind_the_room(services):
    _, redis_url, _, database = services
    env = {**os.environ, "BENCH_DATABASE_URL": database,
           "BENCH_REDIS_URL": other_redis_db(redis_url, 11)}
    for name in ("DATABASE_URL", "REDIS_URL", "WXB_MODE", "WECHAT_API_BASE_URL"):
        env.pop(name, None)

    done = subprocess.run([str(ROOT / "scripts" / "bench_crowd"), "--quick"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)

    report = done.stdout[-4000:] + done.stderr[-3000:]
    assert done.returncode == 0, report
    runs = re.findall(r"bookings: (\d+) of (\d+) portions given out", done.stdout)
    assert len(runs) == 4 and all(given == stock for given, stock in runs), report
    room = re.search(r"with the room .* under overload (\d+) 5xx, (\d+) unanswered",
                     done.stdout)
    assert room and room.groups() == ("0", "0"), report
    assert "without the room" in done.stdout
