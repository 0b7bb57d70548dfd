"""Phone verification codes.

Rules: 6 digits, valid 5 minutes; per phone at most one send a minute and ten a day (the
day as in Beijing); five wrong tries lock the code, and only a new code helps. A code works
once. Redis holds only a keyed hash of the code, and phones appear in keys only as blind
indexes. Both the send limits and the check are single Lua scripts, so parallel requests
cannot slip past a limit or use one code twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import redis

from wx_backend.core import clock
from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import InvalidInput, TooManyRequests, Unavailable
from wx_backend.core.pii import INDEX_PHONE, PiiVault
from wx_backend.sms.message import SmsSender, SmsSendError

CODE_TTL = 300
RESEND_AFTER = 60
DAILY_LIMIT = 10
MAX_TRIES = 5
PURPOSES = ("profile", "bind")

# KEYS: code, resend guard, daily counter. ARGV: code hash, code ttl, resend seconds,
# daily limit, daily ttl. Returns {0, 0} when stored, {1, wait} when too soon,
# {2, wait} when the daily limit is reached.
_ISSUE = """
local wait = redis.call('TTL', KEYS[2])
if wait > 0 then return {1, wait} end
local sent = tonumber(redis.call('GET', KEYS[3]) or '0')
if sent >= tonumber(ARGV[4]) then return {2, redis.call('TTL', KEYS[3])} end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[5])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'hash', ARGV[1], 'tries', 0)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {0, 0}
"""

# KEYS: code. ARGV: hash of the submitted code, max tries.
# Returns {0, 0} on success (the code is gone), {1, 0} when there is no live code,
# {2, left} on a wrong code, {3, 0} when locked.
_CHECK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {1, 0} end
local tries = tonumber(redis.call('HGET', KEYS[1], 'tries'))
if tries >= tonumber(ARGV[2]) then return {3, 0} end
if redis.call('HGET', KEYS[1], 'hash') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {0, 0}
end
tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
return {2, tonumber(ARGV[2]) - tries}
"""

# Undo an issue whose SMS the provider refused, so the resident may try again at once.
_UNDO = """
redis.call('DEL', KEYS[1], KEYS[2])
if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
return 0
"""


@dataclass(frozen=True)
class IssuedCode:
    """A code was sent; the resident may ask again after ``resend_after`` seconds."""

    expires_in: int
    resend_after: int


class VerificationCodes:
    """Issues and checks codes for (phone, purpose) pairs, keyed by blind index."""

    def __init__(self, client: redis.Redis, vault: PiiVault):
        self.client = client
        self.vault = vault
        self._issue = client.register_script(_ISSUE)
        self._check = client.register_script(_CHECK)
        self._undo = client.register_script(_UNDO)

    def _keys(self, phone: str, purpose: str, now: datetime) -> list[str]:
        ix = self.vault.blind_index(phone, INDEX_PHONE)
        day = now.astimezone(BEIJING).strftime("%Y%m%d")
        return [f"smscode:{purpose}:{ix}", f"smscode-resend:{ix}", f"smscode-daily:{ix}:{day}"]

    def _digest(self, phone: str, purpose: str, code: str) -> str:
        return self.vault.blind_index(f"{purpose}:{phone}:{code}", "sms_code")

    def send(self, sender: SmsSender, phone: str, purpose: str,
             now: datetime | None = None) -> IssuedCode:
        """Make a new code for ``phone`` and text it, within the send limits."""
        if purpose not in PURPOSES:
            raise InvalidInput("invalid_purpose", "验证码用途不正确",
                               fields={"purpose": "应为 " + " / ".join(PURPOSES)})
        now = now or clock.now()
        keys = self._keys(phone, purpose, now)
        code = f"{secrets.randbelow(10**6):06d}"
        status, wait = self._issue(
            keys=keys,
            args=[self._digest(phone, purpose, code), CODE_TTL, RESEND_AFTER, DAILY_LIMIT,
                  2 * 24 * 3600],
        )
        if status == 1:
            raise TooManyRequests("sms_too_frequent", f"验证码发送太频繁，请{wait}秒后再试",
                                  retry_after=int(wait))
        if status == 2:
            raise TooManyRequests("sms_daily_limit",
                                  f"该手机号今天已获取{DAILY_LIMIT}次验证码，请明天再试",
                                  retry_after=int(max(wait, 1)))
        try:
            sender.send(phone, "verification_code", {"code": code, "minutes": CODE_TTL // 60})
        except SmsSendError as error:
            self._undo(keys=keys)
            if error.retryable:
                raise Unavailable("sms_unavailable", "短信发送失败，请稍后再试") from error
            raise InvalidInput("sms_rejected", "该号码无法接收短信，请核对手机号",
                               fields={"phone": "无法接收短信"}) from error
        return IssuedCode(CODE_TTL, RESEND_AFTER)

    def verify(self, phone: str, purpose: str, code: str,
               now: datetime | None = None) -> None:
        """Accept the code once, or raise InvalidInput saying why it was refused."""
        now = now or clock.now()
        key = self._keys(phone, purpose, now)[0]
        status, left = self._check(keys=[key], args=[self._digest(phone, purpose, code),
                                                     MAX_TRIES])
        if status == 0:
            return
        if status == 1:
            message = "验证码已失效或未获取，请重新获取"
            raise InvalidInput("sms_code_expired", message, fields={"sms_code": message})
        if status == 3:
            message = "验证码错误次数过多，请重新获取"
            raise InvalidInput("sms_code_locked", message, fields={"sms_code": message})
        message = (f"验证码不正确，还可以再试{left}次" if left > 0
                   else "验证码不正确，错误次数过多，请重新获取")
        raise InvalidInput("sms_code_wrong", message, fields={"sms_code": message})

