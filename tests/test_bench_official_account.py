"""The official-account webhook benchmark's quick mode runs end to end, and every message,
signed and encrypted as WeChat does, gets a reply that decrypts, from both the real webhook
and the bare wechatpy peer.

Timings and the real/peer ratio are printed, never asserted: this keeps the benchmark
working and its check honest (it exits non-zero on any failed request or undecryptable
reply).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.test_bench_booking import other_redis_db

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_answers_every_message(services):
    _, redis_url, _, database = services
    env = {**os.environ, "BENCH_DATABASE_URL": database,
           "BENCH_REDIS_URL": other_redis_db(redis_url, 10)}
    for name in ("DATABASE_URL", "REDIS_URL", "WXB_MODE", "WECHAT_API_BASE_URL",
                 "WECHAT_OFFICIAL_TOKEN", "WECHAT_OFFICIAL_AES_KEY", "WECHAT_OFFICIAL_APPID",
                 "WECHAT_OFFICIAL_MODE"):
        env.pop(name, None)

    done = subprocess.run([str(ROOT / "scripts" / "bench_official_account"), "--quick"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "knowledge base: 0 FAQ entries" not in out
    assert re.search(r"real webhook +2000 msg in .* failed 0, undecryptable 0", out), out
    assert re.search(r"bare wechatpy peer +2000 msg in .* failed 0, undecryptable 0", out), out
    assert "echoed 2000" in out and "FAQ answers" in out
    assert "failed requests + undecryptable replies, all rounds: 0 of 4400" in out
    assert "ratio real / peer (throughput)" in out
