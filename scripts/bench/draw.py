"""Draw benchmark: a verifiable draw (``wx_backend.lottery.draw``) of COUNT entries, timed step by
step — the entries file, the commitment, the draw itself (seed, one HMAC-SHA256 per entry,
the ranking), writing the four public files, and their verification from scratch.

The target (issue 6): a draw of 1,000,000 entries in under 10 s. Prints the figures; the
exit status says only whether the verification matched.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from wx_backend.lottery import draw


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="entries")
    parser.add_argument("--quota", type=int, default=100_000, help="winners")
    parser.add_argument("--quick", action="store_true", help="100,000 entries")
    args = parser.parse_args()
    if args.quick:
        args.count, args.quota = 100_000, 10_000
    numbers = [f"{n:08d}" for n in random.Random(2020).sample(range(10**8), args.count)]
    folder = Path(tempfile.mkdtemp(prefix="wxb-draw-"))
    timings = {}

    def timed(name, function, *arguments):
        started = time.perf_counter()
        value = function(*arguments)
        timings[name] = time.perf_counter() - started
        return value

    try:
        entries = timed("entries.txt (sort, check)", draw.entries_text, numbers)
        secret = draw.new_secret()
        commitment = timed("commitment", draw.commit, "bench", entries, args.quota, secret,
                           "2026-11-22T09:00:00+08:00")
        result = timed("draw (seed, scores, ranking)", draw.draw, commitment, entries, secret,
                       "上证指数收盘 3052.47")
        timed("publish four files", draw.publish, folder, entries, commitment, result)
        verdict = timed("verify from the files", draw.verify, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"verifiable draw benchmark: {args.count:,} entries, quota {args.quota:,}")
    for name, seconds in timings.items():
        print(f"  {name:<32} {seconds:7.2f} s")
    total = sum(timings[k] for k in ("entries.txt (sort, check)", "commitment",
                                     "draw (seed, scores, ranking)", "publish four files"))
    print(f"  {'commit + draw + publish':<32} {total:7.2f} s   (target for 1,000,000: < 10 s)")
    print("verification: " + ("matches" if verdict.ok else "MISMATCH " + "; ".join(
        verdict.problems)))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
