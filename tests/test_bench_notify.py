"""The fan-out benchmark's quick mode runs end to end, kills a worker, and finds no message
doubled or lost.

Timings are printed, never asserted: this keeps the benchmark working and its count honest
(it exits non-zero on any duplicate or loss).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.test_bench_booking import other_redis_db

ROOT = Path(__file__).resolve().parents[1]


def test_quick_fan_out_has_no_duplicates_and_no_losses(services):
    _, redis_url, _, database = services
    env = {**os.environ, "BENCH_DATABASE_URL": database,
           "BENCH_REDIS_URL": other_redis_db(redis_url, 11)}
    for name in ("DATABASE_URL", "REDIS_URL", "WXB_MODE", "WECHAT_API_BASE_URL", "SMS_BACKEND"):
        env.pop(name, None)

    done = subprocess.run([str(ROOT / "scripts" / "bench_notify"), "--quick"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)

    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "messages delivered         1000" in out
    assert "duplicates                    0" in out and "losses                        0" in out
    assert "worker bench-0 killed with SIGKILL" in out
