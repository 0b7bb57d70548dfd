"""Official-account webhook benchmark: the real ``POST /wechat/official`` against a bare
wechatpy peer, in one run, both in safe (AES) mode.

1. A fresh PostgreSQL schema and Redis database. The real server (``wx-backend serve
   --no-jobs``, granian or ``--server gunicorn``, development settings with the given
   URLs, the fake WeChat API,
   ``WECHAT_OFFICIAL_MODE=safe``) migrates the schema on start, which seeds the FAQ
   knowledge base (migration 0004) and loads the demo campaign the rules are read from.
2. The peer (``official_peer.py``) under the same server, workers and threads: one view
   that checks the signature, decrypts, parses and echoes the text back encrypted, with
   no Redis and no database.
3. COUNT text messages from FOLLOWERS openids, a mix of FAQ questions in Chinese, a few
   vague ones (answered with suggestions) and the commands "帮助" and "规则". Each has its
   own MsgId and nonce, is signed (``WeChatSigner``) and encrypted
   (``WeChatCrypto.encrypt_message``) as WeChat does, and is encoded into its HTTP request
   right before each phase (the timestamp must be within 5 minutes of the server's
   clock) and outside the timing.
4. A warm-up round (not counted: jieba's dictionary, connection pools), then ROUNDS
   rounds: the real server, then the peer, each take all COUNT messages from CONCURRENCY
   keep-alive clients.
5. After each phase, outside the timing, every answer must be a 200 whose body decrypts
   (message signature and app id checked) to a text reply addressed to the sender; the
   peer's must echo what was sent.
6. Prints messages, seconds, messages/s, p50, p99 and the servers' CPU time per message
   (the real server's with Redis's, which does its replay check) for both, and the ratio
   real/peer of throughput (target >= 0.6) and of CPU per message. On a shared 2-core
   machine throughput swings from round to round; the CPU ratio is the steadier figure. Exits
   non-zero if any request failed or any reply did not
   decrypt, never on the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import psutil
import psycopg
import redis
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booking import (  # noqa: E402
    ROOT,
    free_port,
    fresh_run,
    parse_server_arguments,
    peer_command,
    server_arguments,
    server_env,
    tear_down,
    wait_ready,
)

TOKEN = "benchofficialtoken"
AES_KEY = "YmVuY2gtb2ZmaWNpYWwtYWNjb3VudC1hZXMta2V5LTE"  # EncodingAESKey: 43 characters
APPID = "wxbenchofficial01"
ACCOUNT = "gh_benchaccount"
PATH = "/wechat/official"

# (content, weight): what followers ask, most of it the FAQ in their own words.
QUESTIONS = [("怎么预约口罩", 12), ("没收到短信怎么办", 8), ("可以代领吗", 7),
             ("外地人可以预约吗", 6), ("口罩多少钱一只", 7), ("几点开始预约", 10),
             ("收不到验证码", 5), ("在哪里领口罩", 5), ("领口罩要带什么", 4),
             ("预约成功后多久可以再约", 3), ("老人没有智能手机怎么预约", 2),
             ("怎么取消预约", 2), ("有儿童口罩吗", 2), ("每人能约几只", 3),
             ("怎么预越口照", 1), ("请问一家人可以都预约吗？", 2), ("错过领取时间怎么办", 1),
             ("摇号公平吗", 1), ("口罩", 2), ("领取", 1), ("帮助", 8), ("规则", 6)]
COMMANDS = {"帮助", "规则"}

_serial = itertools.count(1)
_MSG_BASE = int(time.time()) * 1_000_000
_NONCE_BASE = random.randrange(1_000_000_000, 2_000_000_000) * 100_000
_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
_CLOSE = re.compile(rb"(?i)\r\nconnection: *close")
_ENCRYPTED = re.compile(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>.*?"
                        r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", re.S)


@dataclass
class Sent:
    openid: str
    content: str
    request: bytes


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def build(crypto: WeChatCrypto, base: str, followers: list[str], count: int,
          chooser: random.Random) -> list[Sent]:
    """COUNT signed, encrypted text messages as HTTP requests to ``base``, stamped now."""
    host = base.split("//")[1]
    contents = chooser.choices([q for q, _ in QUESTIONS], [w for _, w in QUESTIONS], k=count)
    timestamp = str(int(time.time()))
    built = []
    for content in contents:
        n = next(_serial)
        openid = chooser.choice(followers)
        nonce = str(_NONCE_BASE + n)
        xml = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
               f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
               f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
               f"<Content><![CDATA[{content}]]></Content><MsgId>{_MSG_BASE + n}</MsgId></xml>")
        encrypt, msg_signature = _ENCRYPTED.search(
            crypto.encrypt_message(xml, nonce, timestamp)).groups()
        query = urlencode({"signature": signature(TOKEN, timestamp, nonce),
                           "timestamp": timestamp, "nonce": nonce, "openid": openid,
                           "encrypt_type": "aes", "msg_signature": msg_signature})
        body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
                f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>").encode()
        head = (f"POST {PATH}?{query} HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n")
        built.append(Sent(openid, content, head.encode() + body))
    return built


async def exchange(base: str, sent: list[Sent], concurrency: int, timeout: float):
    """Send every request once over ``concurrency`` keep-alive connections.

    Like booking.py's client (asyncio streams, requests encoded in advance) but keeping
    each answer's body, and counting a broken connection or a timeout as a failed request
    rather than stopping. Returns (seconds, [(status or 0, body, latency)]).
    """
    host, port = base.split("//")[1].split(":")
    results = [None] * len(sent)
    position = iter(range(len(sent)))

    async def one(reader, writer, request: bytes):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = _LENGTH.search(head)
        body = await reader.readexactly(int(length.group(1))) if length else b""
        return int(head[9:12]), body, bool(_CLOSE.search(head)) or not length

    async def connection():
        reader = writer = None
        for n in position:
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                status, body, closed = await asyncio.wait_for(
                    one(reader, writer, sent[n].request), timeout)
            except (OSError, EOFError, ValueError, asyncio.TimeoutError,
                    asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                status, body, closed = 0, repr(error).encode(), True
            results[n] = (status, body, time.perf_counter() - started)
            if closed and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - began, results


def check(crypto: WeChatCrypto, sent: Sent, result, echo: bool) -> str:
    """What one answer was: failed, undecryptable, or the kind of text reply."""
    status, body, _ = result
    if status != 200:
        return "failed"
    try:
        outer = xmltodict.parse(body)["xml"]
        reply = xmltodict.parse(crypto.decrypt_message(
            outer, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"]))["xml"]
    except Exception:  # noqa: BLE001 - anything that does not decrypt and parse
        return "undecryptable"
    content = reply.get("Content") or ""
    if reply.get("MsgType") != "text" or reply.get("ToUserName") != sent.openid or not content:
        return "undecryptable"
    if echo:
        return "echoed" if content == sent.content else "undecryptable"
    if sent.content in COMMANDS:
        return "command replies"
    if content.startswith("您是想问"):
        return "suggestions"
    if content.startswith("抱歉"):
        return "not understood"
    return "FAQ answers"


def cpu_split(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU so far of these processes and all their children."""
    user = system = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                times = process.cpu_times()
                user += times.user
                system += times.system
        except psutil.NoSuchProcess:
            continue
    return user, system


def phase(name: str, base: str, crypto: WeChatCrypto, followers: list[str], count: int,
          args, chooser: random.Random, echo: bool, pids: list[int]) -> dict:
    """Build, send and check COUNT messages to one server; print and return the summary.

    ``pids``: the server's processes (with children) whose CPU time is counted per message;
    for the real server that includes Redis, which does its replay check.
    """
    building = time.perf_counter()
    sent = build(crypto, base, followers, count, chooser)
    built = time.perf_counter() - building
    user_before, system_before = cpu_split(pids)
    seconds, results = asyncio.run(exchange(base, sent, args.concurrency, args.timeout))
    user_after, system_after = cpu_split(pids)
    user = (user_after - user_before) / count * 1000
    system = (system_after - system_before) / count * 1000
    cpu = user + system
    kinds = Counter(check(crypto, s, r, echo) for s, r in zip(sent, results))
    latencies = sorted(r[2] for r in results)
    rate = count / seconds
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    failed, undecryptable = kinds.pop("failed", 0), kinds.pop("undecryptable", 0)
    print(f"  {name:<22} {count:>7} msg in {seconds:6.2f} s = {rate:8.0f} msg/s"
          f"   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   failed {failed}, "
          f"undecryptable {undecryptable}")
    print(f"  {'':<22} server CPU {cpu:.2f} ms/msg (user {user:.2f}, system {system:.2f})")
    print(f"  {'':<22} replies: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common())
          + f"  (built in {built:.1f} s, not timed)")
    for (status, body, _), s in itertools.islice(
            ((r, s) for s, r in zip(sent, results)
             if check(crypto, s, r, echo) in ("failed", "undecryptable")), 3):
        print(f"  {'':<22} e.g. {s.content!r}: {status} {body[:200]!r}")
    return {"count": count, "seconds": seconds, "rate": rate, "p50": p50, "p99": p99,
            "cpu": cpu, "failed": failed, "undecryptable": undecryptable}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000, help="messages per phase")
    parser.add_argument("--followers", type=int, default=2_000, help="distinct openids")
    parser.add_argument("--warm-up", type=int, default=500,
                        help="messages to each server before the counted rounds")
    parser.add_argument("--timeout", type=float, default=30,
                        help="seconds before a request counts as failed")
    server_arguments(parser, 10, "2,000 messages: a small run")
    args = parse_server_arguments(parser)
    if args.quick:
        args.count, args.followers, args.warm_up, args.rounds = 2_000, 500, 200, 1

    schema, scoped, instance = fresh_run(args.database_url, args.redis_url)
    client = redis.Redis.from_url(args.redis_url)
    env = {**server_env(scoped, args.redis_url, instance), "FAKE_WECHAT": "1",
           "WECHAT_OFFICIAL_TOKEN": TOKEN, "WECHAT_OFFICIAL_AES_KEY": AES_KEY,
           "WECHAT_OFFICIAL_APPID": APPID, "WECHAT_OFFICIAL_MODE": "safe"}
    env.pop("WECHAT_API_BASE_URL", None)  # the fake, never the internet
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    processes = []
    errors = 0
    clean = False
    try:
        print(f"official-account webhook benchmark: {args.count} safe-mode text messages from "
              f"{args.followers} followers, {args.concurrency} clients, gunicorn "
              f"{args.workers} workers x {args.threads} threads, {args.rounds} "
              f"round{'s' if args.rounds > 1 else ''}")
        setup = time.perf_counter()
        port = free_port()
        log = instance / "server.log"
        real = subprocess.Popen([sys.executable, "-m", "wx_backend.cli", "serve", "--bind",
                                 f"127.0.0.1:{port}", "--workers", str(args.workers),
                                 "--threads", str(args.threads), "--server", args.server,
                                 "--no-access-log", "--no-jobs"],
                                cwd=ROOT, env=env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)
        processes.append(real)
        base = f"http://127.0.0.1:{port}"
        port = free_port()
        peer_log = instance / "peer.log"
        peer_process = subprocess.Popen(
            peer_command(args, f"127.0.0.1:{port}", "official_peer", "app"), env=env,
            stdout=peer_log.open("wb"), stderr=subprocess.STDOUT)
        processes.append(peer_process)
        peer = f"http://127.0.0.1:{port}"
        wait_ready(base + "/api/v1/openapi.json", real, log)
        wait_ready(peer + PATH, peer_process, peer_log)
        with psycopg.connect(scoped) as connection:
            entries = connection.execute("SELECT count(*) FROM faq_entries").fetchone()[0]
        print(f"  set-up (schema, migrations, servers) took {time.perf_counter() - setup:.1f} s;"
              f" knowledge base: {entries} FAQ entries")
        if not entries:
            print("  the knowledge base is empty: migration 0004 did not seed it")
            return 1

        from wx_backend.dev.fakes.wechat_api import openid_for

        followers = [openid_for(APPID, f"bench-{n}") for n in range(args.followers)]
        redis_pid = int(client.info("server")["process_id"])
        chooser = random.Random(2020)
        phases = {"real": [], "peer": []}
        for round_no in range(0, args.rounds + 1):
            # Round 0 loads jieba and the FAQ index in every worker and opens the pools.
            count = args.count if round_no else min(args.warm_up, args.count)
            print(f"round {round_no}:" if round_no else "warm-up round (not counted):")
            results = {
                "real": phase("real webhook", base, crypto, followers, count, args, chooser,
                              echo=False, pids=[real.pid, redis_pid]),
                "peer": phase("bare wechatpy peer", peer, crypto, followers, count, args,
                              chooser, echo=True, pids=[peer_process.pid])}
            for name, result in results.items():
                errors += result["failed"] + result["undecryptable"]
                if round_no:
                    phases[name].append(result)

        median = {name: {key: statistics.median(r[key] for r in runs)
                         for key in ("seconds", "rate", "p50", "p99", "cpu")}
                  for name, runs in phases.items()}
        print("medians over the rounds:" if args.rounds > 1 else "summary:")
        print(f"  {'':<22} {'messages':>8} {'seconds':>8} {'msg/s':>8} {'p50 ms':>8}"
              f" {'p99 ms':>8} {'CPU ms/msg':>11}")
        for name, label in (("real", "real webhook"), ("peer", "bare wechatpy peer")):
            m = median[name]
            print(f"  {label:<22} {args.count:>8} {m['seconds']:>8.2f} {m['rate']:>8.0f}"
                  f" {m['p50']:>8.1f} {m['p99']:>8.1f} {m['cpu']:>11.2f}")
        ratio = median["real"]["rate"] / median["peer"]["rate"]
        print(f"ratio real / peer (throughput)  {ratio:.2f}  (target >= 0.6 x the peer: "
              + ("met" if ratio >= 0.6 else "NOT met") + ")")
        print(f"ratio peer / real (server CPU per message)  "
              f"{median['peer']['cpu'] / median['real']['cpu']:.2f}")
        sent = 2 * (args.rounds * args.count + min(args.warm_up, args.count))
        print(f"failed requests + undecryptable replies, all rounds: {errors} of {sent}")
        clean = not errors
        return 0 if clean else 1
    finally:
        tear_down(processes, args.database_url, schema, client)
        if clean:  # otherwise the servers' logs stay for a look
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
