"""Configuration read from the environment.

Two modes:

- ``development`` (the default when neither ``DATABASE_URL`` nor ``REDIS_URL`` is set):
  embedded PostgreSQL and Redis under ``instance/``, the fake WeChat API, the SMS outbox
  and the dev tools are on, and the secrets are generated once into ``instance/``.
- ``production`` (the default as soon as a URL is set): every secret must be given, and
  ``check_production`` refuses to start with any development door open: the fake WeChat
  API (any ``dev-<x>`` login code would make an account), the dev tools (``/dev/outbox``
  shows every SMS code to anyone), the SMS outbox (texts kept instead of sent), a shifted
  clock, or a plain-mode webhook that nobody opted into.

``WXB_MODE`` overrides the guess; every other switch can be overridden one by one. The
README carries the table of settings; keep the two in step.
"""

from __future__ import annotations

import json
import os
import secrets as random_secrets
import time
from collections.abc import Mapping

from wx_backend.core import redis_urls
from wx_backend.core.pii import new_key_spec

DEFAULT_WECHAT_API_BASE_URL = "https://api.weixin.qq.com/"
DEFAULT_BEACON_URL = "https://api.drand.sh/"
NOTIFY_EVENTS = ("booking_confirmed", "pickup_reminder", "booking_expired", "booking_cancelled",
                 "draw_won", "draw_lost", "announcement", "delivery_switched",
                 "voucher_released")
OFFICIAL_MODES = ("plain", "compatible", "safe")
# Development only: WeChat's own sample-style values, so a local tool can sign messages.
DEV_OFFICIAL_TOKEN = "devofficialtoken"
DEV_OFFICIAL_AES_KEY = "ZGV2b2ZmaWNpYWxhY2NvdW50YWVza2V5Zm9ybG9jYWw"


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"expected a boolean (1/0, true/false), got {value!r}")


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("1", "true", "yes", "0", "false", "no"):
        raise ConfigError(f"{name} must be 1/true/yes or 0/false/no, got {raw!r}")
    return raw in ("1", "true", "yes")


def key_list(value: str | list | tuple | None) -> list[str]:
    """Comma-separated keys (or a list of them) as a list of non-empty strings."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else value
    return [str(part).strip() for part in parts if str(part).strip()]


def signing_keys(config: Mapping) -> list[str]:
    """The keys to sign and verify with, itsdangerous's way: ``SECRET_KEY_FALLBACKS``
    (still accepted after a rotation), then ``SECRET_KEY`` last (signs everything new)."""
    return [*key_list(config.get("SECRET_KEY_FALLBACKS")), config["SECRET_KEY"]]


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


class Config:
    """Settings taken from ``environ`` (the process environment by default).

    Upper-case attributes become ``app.config`` keys. Tests pass a mapping to
    ``create_app`` to override any of them.
    """

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        get = env.get

        self.DATABASE_URL = get("DATABASE_URL") or None
        self.REDIS_URL = get("REDIS_URL") or None
        # The booking hot path's Redis (booking.stock); may be a cluster. REDIS_URL keeps
        # RQ, sessions, locks and caches, and cannot be one (RQ does not support clusters).
        self.STOCK_REDIS_URL = get("STOCK_REDIS_URL") or None
        if self.REDIS_URL and redis_urls.kind(self.REDIS_URL) == "cluster":
            raise ConfigError("REDIS_URL cannot be a Redis Cluster (RQ needs one server or "
                              "Sentinel); put the cluster in STOCK_REDIS_URL")
        embedded = self.DATABASE_URL is None and self.REDIS_URL is None
        mode = (get("WXB_MODE") or ("development" if embedded else "production")).lower()
        if mode not in {"development", "production"}:
            raise ConfigError(f"WXB_MODE must be development or production, got {mode!r}")
        dev = mode == "development"
        self.WXB_MODE = mode

        self.INSTANCE_PATH = get("WXB_INSTANCE_PATH") or None
        self.SECRET_KEY = get("SECRET_KEY") or None
        # Older SECRET_KEYs, still accepted after a rotation (Flask's own name: its session
        # cookie honours it; signing_keys() gives the rest of our signatures the same list).
        self.SECRET_KEY_FALLBACKS = key_list(get("SECRET_KEY_FALLBACKS"))
        self.PII_KEY = get("PII_KEY") or None
        self.PII_OLD_KEYS = get("PII_OLD_KEYS") or ""
        self.PII_INDEX_KEY = get("PII_INDEX_KEY") or None

        self.WECHAT_MINIPROGRAM_APPID = get("WECHAT_MINIPROGRAM_APPID") or (
            "wxdevminiprogram0" if dev else None)
        self.WECHAT_MINIPROGRAM_SECRET = get("WECHAT_MINIPROGRAM_SECRET") or (
            "dev-miniprogram-secret" if dev else None)
        self.WECHAT_OFFICIAL_APPID = get("WECHAT_OFFICIAL_APPID") or (
            "wxdevofficialacct" if dev else None)
        self.WECHAT_OFFICIAL_SECRET = get("WECHAT_OFFICIAL_SECRET") or (
            "dev-official-secret" if dev else None)
        self.WECHAT_API_BASE_URL = get("WECHAT_API_BASE_URL") or None
        self.WECHAT_TIMEOUT = _int(env, "WECHAT_TIMEOUT", 5)
        self.FAKE_WECHAT = _flag(get("FAKE_WECHAT"), dev)
        # The official account's webhook (wx_backend.official_account.webhook): the token
        # and EncodingAESKey set in WeChat's console; the mode WeChat is set to (plain,
        # compatible or safe; safe when an AES key is given, unless said otherwise).
        self.WECHAT_OFFICIAL_TOKEN = get("WECHAT_OFFICIAL_TOKEN") or (
            DEV_OFFICIAL_TOKEN if dev else None)
        self.WECHAT_OFFICIAL_AES_KEY = get("WECHAT_OFFICIAL_AES_KEY") or (
            DEV_OFFICIAL_AES_KEY if dev else None)
        self.WECHAT_OFFICIAL_MODE = (get("WECHAT_OFFICIAL_MODE") or (
            "compatible" if dev else "safe" if self.WECHAT_OFFICIAL_AES_KEY else "plain")).lower()
        if self.WECHAT_OFFICIAL_MODE not in OFFICIAL_MODES:
            raise ConfigError("WECHAT_OFFICIAL_MODE must be plain, compatible or safe, got "
                              f"{self.WECHAT_OFFICIAL_MODE!r}")
        if self.WECHAT_OFFICIAL_MODE != "plain" and len(self.WECHAT_OFFICIAL_AES_KEY or "") != 43:
            raise ConfigError(f"WECHAT_OFFICIAL_MODE={self.WECHAT_OFFICIAL_MODE} needs "
                              "WECHAT_OFFICIAL_AES_KEY, the 43-character EncodingAESKey")
        # Production runs a plain-mode webhook (bodies unencrypted on the way) only when
        # asked for in so many words; check_production says so.
        self.WECHAT_OFFICIAL_ALLOW_PLAIN = _bool(env, "WECHAT_OFFICIAL_ALLOW_PLAIN", False)
        self.WECHAT_OFFICIAL_MAX_BODY = _int(env, "WECHAT_OFFICIAL_MAX_BODY", 16 * 1024)
        self.WECHAT_OFFICIAL_MAX_SKEW = _int(env, "WECHAT_OFFICIAL_MAX_SKEW", 300)

        # Production has no default: it must name a real provider (check_production).
        self.SMS_BACKEND = (get("SMS_BACKEND") or ("outbox" if dev else "")).lower() or None
        self.SMS_SIGN_NAME = get("SMS_SIGN_NAME") or "口罩预约"
        # Our template name -> the provider's approved template code, as JSON, e.g.
        # {"booking_confirmed": "SMS_4711", "verification_code": "SMS_4712"}.
        self.SMS_TEMPLATE_CODES = get("SMS_TEMPLATE_CODES") or "{}"
        self.SMS_TIMEOUT = _int(env, "SMS_TIMEOUT", 10)
        self.ALIYUN_SMS_ACCESS_KEY_ID = get("ALIYUN_SMS_ACCESS_KEY_ID") or None
        self.ALIYUN_SMS_ACCESS_KEY_SECRET = get("ALIYUN_SMS_ACCESS_KEY_SECRET") or None
        # Host name, or a full URL (http://127.0.0.1:8801) to reach a local fake.
        self.ALIYUN_SMS_ENDPOINT = get("ALIYUN_SMS_ENDPOINT") or "dysmsapi.aliyuncs.com"
        self.TENCENT_SMS_SECRET_ID = get("TENCENT_SMS_SECRET_ID") or None
        self.TENCENT_SMS_SECRET_KEY = get("TENCENT_SMS_SECRET_KEY") or None
        self.TENCENT_SMS_SDK_APP_ID = get("TENCENT_SMS_SDK_APP_ID") or None
        self.TENCENT_SMS_REGION = get("TENCENT_SMS_REGION") or "ap-guangzhou"
        self.TENCENT_SMS_ENDPOINT = get("TENCENT_SMS_ENDPOINT") or "sms.tencentcloudapi.com"
        # Verification codes one login may ask for an hour, one account a Beijing day, one
        # client address an hour, and the whole city a minute (sms.codes); 0 is no limit.
        self.SMS_CODES_PER_SESSION = _int(env, "SMS_CODES_PER_SESSION", 5)
        self.SMS_CODES_PER_ACCOUNT = _int(env, "SMS_CODES_PER_ACCOUNT", 10)
        self.SMS_CODES_PER_ADDRESS = _int(env, "SMS_CODES_PER_ADDRESS", 60)
        self.SMS_CODES_PER_MINUTE = _int(env, "SMS_CODES_PER_MINUTE", 3000)
        # Wrong answers a follower may give in the binding conversation a Beijing day.
        self.BINDING_TRIES_PER_DAY = _int(env, "BINDING_TRIES_PER_DAY", 10)
        self.DEV_TOOLS = _flag(get("DEV_TOOLS"), dev)
        # Booking rows of concurrent requests written together (booking.group_commit).
        self.GROUP_COMMIT = _flag(get("GROUP_COMMIT"), True)
        # How many of those statements one web process runs at once (each holds a pooled
        # connection while it runs, so keep it below DATABASE_POOL_SIZE).
        self.GROUP_COMMIT_STATEMENTS = _int(env, "GROUP_COMMIT_STATEMENTS", 4)
        if self.GROUP_COMMIT_STATEMENTS < 1:  # none at all would leave every booking waiting
            raise ConfigError("GROUP_COMMIT_STATEMENTS must be at least 1, got "
                              f"{self.GROUP_COMMIT_STATEMENTS}")
        # Abuse limits (core.throttle), per web process; 0 switches one off.
        self.ATTEMPTS_PER_PERSON = _int(env, "ATTEMPTS_PER_PERSON", 30)
        self.ATTEMPTS_PER_ADDRESS = _int(env, "ATTEMPTS_PER_ADDRESS", 600)
        # How many proxies in front append to X-Forwarded-For (the client's address).
        self.PROXY_HOPS = _int(env, "PROXY_HOPS", 0)

        # Notifications (wx_backend.notify) and the job schedule (wx_backend.jobs.schedule).
        # WeChat template ids per event, as JSON ({"booking_confirmed": "<id>", ...}); an
        # event without one is not sent over that channel.
        dev_templates = json.dumps({event: f"dev-{event}" for event in NOTIFY_EVENTS})
        self.WECHAT_SUBSCRIBE_TEMPLATES = get("WECHAT_SUBSCRIBE_TEMPLATES") or (
            dev_templates if dev else "{}")
        self.WECHAT_TEMPLATE_IDS = get("WECHAT_TEMPLATE_IDS") or (
            dev_templates if dev else "{}")
        self.NOTIFY_LEASE_SECONDS = _int(env, "NOTIFY_LEASE_SECONDS", 20)
        self.NOTIFY_RETRY_DELAYS = get("NOTIFY_RETRY_DELAYS") or "10,60,300,1800"
        self.NOTIFY_STALL_SECONDS = _int(env, "NOTIFY_STALL_SECONDS", 20)
        self.NOTIFY_WECHAT_THREADS = _int(env, "NOTIFY_WECHAT_THREADS", 8)
        self.SWEEP_SECONDS = _int(env, "SWEEP_SECONDS", 5)
        # Seconds added to the clock of `wx-backend worker` (development and tests only).
        self.CLOCK_OFFSET = _int(env, "CLOCK_OFFSET", 0)
        if self.CLOCK_OFFSET and not dev:
            raise ConfigError("CLOCK_OFFSET is for development and tests; unset it in production")

        # Where scheduled draws take their public value (wx_backend.lottery.beacon).
        self.DRAW_BEACON_URL = get("DRAW_BEACON_URL") or None
        # Development without DRAW_BEACON_URL: a local fake beacon (its randomness is
        # anyone's to compute, so production refuses it), so draws and waiting rooms work
        # offline; otherwise the League of Entropy's drand.
        self.FAKE_BEACON = _flag(get("FAKE_BEACON"), dev)

        self.SESSION_TTL = _int(env, "SESSION_TTL", 7 * 24 * 3600)
        # The console's session cookie (web.console): only under /console, not readable by
        # scripts, not sent by other sites' forms, https-only in production unless told.
        self.SESSION_COOKIE_NAME = "wxb_console"
        self.SESSION_COOKIE_PATH = "/console"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool(env, "CONSOLE_COOKIE_SECURE", not dev)
        # Console sessions (web.console.access) end this long after sign-in whatever
        # happens, and after this long without use (the pages' own polling is not use).
        self.CONSOLE_SESSION_SECONDS = _int(env, "CONSOLE_SESSION_SECONDS", 12 * 3600)
        self.CONSOLE_IDLE_SECONDS = _int(env, "CONSOLE_IDLE_SECONDS", 3600)
        # Failed sign-ins (console and staff APIs) one client address may make in 15
        # minutes, on top of the per-account lock (identity.accounts); 0 is no limit.
        self.SIGN_IN_FAILURES_PER_ADDRESS = _int(env, "SIGN_IN_FAILURES_PER_ADDRESS", 20)
        # CSRF tokens are checked by the console on its own forms, not on the token API.
        self.WTF_CSRF_CHECK_DEFAULT = False
        self.WTF_CSRF_TIME_LIMIT = self.CONSOLE_SESSION_SECONDS
        self.MAX_CONTENT_LENGTH = _int(env, "MAX_CONTENT_LENGTH", 64 * 1024)
        self.LOG_LEVEL = (get("LOG_LEVEL") or "INFO").upper()
        self.LOG_FORMAT = (get("LOG_FORMAT") or "text").lower()
        if self.LOG_FORMAT not in {"text", "json"}:
            raise ConfigError(f"LOG_FORMAT must be text or json, got {self.LOG_FORMAT!r}")
        # /metrics (web.metrics) for the operator's Prometheus: with a token, only requests
        # carrying it as a bearer token; without one, only requests from this machine.
        self.METRICS_TOKEN = get("METRICS_TOKEN") or None

        # No pre-ping: it would cost a round trip per request on the booking path. Stale
        # connections are recycled instead, and a dead one fails one request with a 503.
        self.SQLALCHEMY_ENGINE_OPTIONS = {
            "pool_recycle": 300,
            "pool_size": _int(env, "DATABASE_POOL_SIZE", 10),
        }


PRODUCTION_REQUIRED = (
    "SECRET_KEY",
    "PII_KEY",
    "PII_INDEX_KEY",
    "WECHAT_MINIPROGRAM_APPID",
    "WECHAT_MINIPROGRAM_SECRET",
    "WECHAT_OFFICIAL_APPID",
    "WECHAT_OFFICIAL_SECRET",
    "WECHAT_OFFICIAL_TOKEN",
)


def check_production(config: Mapping) -> None:
    """Raise ConfigError naming every setting production needs but lacks, and every
    development door left open, each with what to do about it."""
    problems = []
    missing = [name for name in PRODUCTION_REQUIRED if not config.get(name)]
    if missing:
        problems.append("missing settings: " + ", ".join(missing)
                        + " (the README's table of settings says what each holds)")
    if config.get("FAKE_WECHAT"):
        problems.append(
            "FAKE_WECHAT is on: the fake WeChat API turns any login code dev-<name> into an "
            "account. Set FAKE_WECHAT=0 or unset it (calls then go to api.weixin.qq.com, or "
            "to WECHAT_API_BASE_URL)")
    if config.get("FAKE_BEACON") and not config.get("DRAW_BEACON_URL"):
        problems.append(
            "FAKE_BEACON is on: draws and waiting rooms would take their randomness from a "
            "local fake whose every value anyone can compute in advance. Set FAKE_BEACON=0 "
            "or unset it (drand's https://api.drand.sh/ is used), or set DRAW_BEACON_URL")
    if config.get("DEV_TOOLS"):
        problems.append(
            "DEV_TOOLS is on: /dev/outbox would show every SMS code to anyone who asks. "
            "Set DEV_TOOLS=0 or unset it")
    backend = config.get("SMS_BACKEND")
    if not backend:
        problems.append(
            "SMS_BACKEND is not set: production sends texts through a real provider. Set "
            "SMS_BACKEND=aliyun or SMS_BACKEND=tencent, with its credentials and "
            "SMS_TEMPLATE_CODES")
    elif backend == "outbox":
        problems.append(
            "SMS_BACKEND=outbox keeps texts in the database for /dev/outbox instead of "
            "sending them. Set SMS_BACKEND=aliyun or SMS_BACKEND=tencent, with its "
            "credentials and SMS_TEMPLATE_CODES")
    if config.get("WECHAT_OFFICIAL_MODE") == "plain" and not config.get(
            "WECHAT_OFFICIAL_ALLOW_PLAIN"):
        problems.append(
            "WECHAT_OFFICIAL_MODE is plain (the default without WECHAT_OFFICIAL_AES_KEY): "
            "followers' messages, phone numbers and SMS codes included, would arrive "
            "unencrypted. Set WECHAT_OFFICIAL_AES_KEY to the account's EncodingAESKey (safe "
            "mode), or, if the account is set to plain mode in WeChat on purpose, set "
            "WECHAT_OFFICIAL_ALLOW_PLAIN=1")
    if config.get("CLOCK_OFFSET"):
        problems.append("CLOCK_OFFSET is for development and tests: unset it")
    if problems:
        raise ConfigError(
            "production mode (WXB_MODE=production, the default once DATABASE_URL or "
            "REDIS_URL is set) refuses to start:\n"
            + "".join(f"  - {problem}\n" for problem in problems)
            + "(to try it out locally instead, set WXB_MODE=development: generated dev "
              "secrets, the fakes and the dev tools)")


def load_dev_secrets(instance_path: str) -> dict[str, str]:
    """Secrets for development, generated once into ``instance/dev-secrets.json``.

    Kept on disk so that data encrypted in one run decrypts in the next. Written with
    O_EXCL so that processes starting together agree on one set.
    """
    path = os.path.join(instance_path, "dev-secrets.json")
    os.makedirs(instance_path, exist_ok=True)
    fresh = {
        "SECRET_KEY": random_secrets.token_urlsafe(48),
        "PII_KEY": new_key_spec("dev1"),
        "PII_INDEX_KEY": new_key_spec("index"),
    }
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            with open(path, encoding="utf-8") as existing:
                text = existing.read()
            if text.strip():
                return json.loads(text)

            time.sleep(0.1)
        raise ConfigError(f"{path} is empty; delete it to generate new dev secrets") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(fresh, handle)
    return fresh
