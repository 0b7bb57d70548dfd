"""The booking benchmark's quick mode runs end to end and finds nothing oversold.

Timings are printed, never asserted: this only keeps the benchmark working and its audit
honest (it exits non-zero on any oversold, double-booked or over-cap result).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def other_redis_db(url: str, number: int = 12) -> str:
    """The same Redis server, database ``number`` (the benchmarks flush theirs)."""
    if url.startswith("unix://"):
        return url.split("?")[0] + f"?db={number}"
    head, _, _ = url.rpartition("/")
    return f"{head}/{number}"


def test_quick_benchmark_audits_clean(services):
    _, redis_url, _, database = services
    env = {**os.environ, "BENCH_DATABASE_URL": database,
           "BENCH_REDIS_URL": other_redis_db(redis_url)}
    for name in ("DATABASE_URL", "REDIS_URL", "WXB_MODE", "WECHAT_API_BASE_URL"):
        env.pop(name, None)

    done = subprocess.run([str(ROOT / "scripts" / "bench_booking"), "--quick", "--rounds", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "oversold + double-booked + stores over cap, all rounds: 0" in done.stdout
    assert "confirmed 500 of 500" in done.stdout
    assert "full path / ceiling" in done.stdout
    assert "our booking rows alone: 500 rows in" in done.stdout  # every row written once
