"""Phone verification codes.

Rules: 6 digits, valid 5 minutes; per phone at most one send a minute and ten a day (the
day as in Beijing); five wrong tries lock the code, and only a new code helps. A code works
once. Redis holds only a keyed hash of the code, and phones appear in keys only as blind
indexes. Both the send limits and the check are single Lua scripts, so parallel requests
cannot slip past a limit or use one code twice.

**A code belongs to whoever asked for it.** It is kept under the phone *and* the session
that asked (``Requester.session``: a login token's digest, or a follower's conversation),
and only that session can use it. A stranger who asks for a code for someone else's phone
gets a code of their own, which the phone's owner never sees; wrong tries lock only the
stranger's code, and the owner's own code keeps working.

**Nobody can pump the city's SMS.** Besides the per-phone limits, every send counts
against the session (``SMS_CODES_PER_SESSION`` an hour), the account behind it
(``SMS_CODES_PER_ACCOUNT`` a Beijing day), the client's address (``SMS_CODES_PER_ADDRESS``
an hour; many residents share a carrier's address, so it is set high) and the whole city
(``SMS_CODES_PER_MINUTE``), each answered with 429 and ``retry_after``. A token looping
over a million phone numbers stops at the session's limit. The per-phone limits still
protect a phone's owner from being flooded, at the price that a determined stranger with
many accounts and addresses could use up a phone's ten codes of the day.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import redis

from wx_backend.core import clock
from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import Forbidden, InvalidInput, NotFound, TooManyRequests, Unavailable
from wx_backend.core.pii import INDEX_PHONE, PiiVault
from wx_backend.sms.message import SmsSender, SmsSendError

CODE_TTL = 300
RESEND_AFTER = 60
DAILY_LIMIT = 10
MAX_TRIES = 5
PURPOSES = ("profile", "bind")
HOUR = 3600

# KEYS: code, resend guard, phone's daily counter, session's counter, account's counter,
# address's counter, the city's counter. ARGV: code hash, code ttl, resend seconds, phone's
# daily limit, day ttl, then the limits of the session, the account, the address and the
# city (0: none), the hour ttl and the minute ttl.
# Returns {0, 0} when stored, else {refusal, seconds to wait}: 1 too soon for this phone,
# 2 the phone's day is used up, 3 the session's, 4 the account's, 5 the address's, 6 the
# city's budget of the minute.
_ISSUE = """
local limits = {{4, tonumber(ARGV[6]), 3}, {5, tonumber(ARGV[7]), 4},
                {6, tonumber(ARGV[8]), 5}, {7, tonumber(ARGV[9]), 6}}
for _, limit in ipairs(limits) do
  local used = tonumber(redis.call('GET', KEYS[limit[1]]) or '0')
  if limit[2] > 0 and used >= limit[2] then
    return {limit[3], math.max(redis.call('TTL', KEYS[limit[1]]), 1)}
  end
end
local wait = redis.call('TTL', KEYS[2])
if wait > 0 then return {1, wait} end
local sent = tonumber(redis.call('GET', KEYS[3]) or '0')
if sent >= tonumber(ARGV[4]) then return {2, redis.call('TTL', KEYS[3])} end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
local ttls = {[3] = ARGV[5], [4] = ARGV[10], [5] = ARGV[5], [6] = ARGV[10], [7] = ARGV[11]}
for i = 3, 7 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ttls[i]) end
end
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
for i = 3, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""


@dataclass(frozen=True)
class Requester:
    """Who asks for a code: the session the code will belong to (a login token, or a
    follower's binding conversation), the account behind it, and the client's address
    (None when it is not known, as for messages WeChat's servers relay)."""

    session: str
    account: str
    address: str | None = None

    @classmethod
    def of_token(cls, token: str, resident_id: int, address: str | None) -> "Requester":
        """A mini-program resident, by their login token (kept only as a digest)."""
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        return cls(f"t:{digest}", f"r:{resident_id}", address)

    @classmethod
    def of_follower(cls, openid: str) -> "Requester":
        """An official-account follower in the binding conversation."""
        return cls(f"oa:{openid}", f"oa:{openid}", None)


@dataclass(frozen=True)
class CodeLimits:
    """Sends allowed per session (an hour), per account (a Beijing day), per client
    address (an hour) and for the whole city (a minute); 0 is no limit."""

    per_session: int = 5
    per_account: int = 10
    per_address: int = 60
    per_minute: int = 3000

    @classmethod
    def from_config(cls, config) -> "CodeLimits":
        return cls(config["SMS_CODES_PER_SESSION"], config["SMS_CODES_PER_ACCOUNT"],
                   config["SMS_CODES_PER_ADDRESS"], config["SMS_CODES_PER_MINUTE"])


@dataclass(frozen=True)
class IssuedCode:
    """A code was sent; the resident may ask again after ``resend_after`` seconds."""

    expires_in: int
    resend_after: int


class VerificationCodes:
    """Issues and checks codes for (phone, purpose, session), keyed by blind index."""

    def __init__(self, client: redis.Redis, vault: PiiVault,
                 limits: CodeLimits | None = None):
        self.client = client
        self.vault = vault
        self.limits = limits or CodeLimits()
        self._issue = client.register_script(_ISSUE)
        self._check = client.register_script(_CHECK)
        self._undo = client.register_script(_UNDO)

    def _code_key(self, phone: str, purpose: str, requester: Requester) -> str:
        ix = self.vault.blind_index(phone, INDEX_PHONE)
        return f"smscode:{purpose}:{ix}:{requester.session}"

    def _keys(self, phone: str, purpose: str, requester: Requester,
              now: datetime) -> list[str]:
        ix = self.vault.blind_index(phone, INDEX_PHONE)
        day = now.astimezone(BEIJING).strftime("%Y%m%d")
        hour, minute = int(now.timestamp() // HOUR), int(now.timestamp() // 60)
        address = (self.vault.blind_index(requester.address, "client_address")[:32]
                   if requester.address else "-")
        return [self._code_key(phone, purpose, requester), f"smscode-resend:{ix}",
                f"smscode-daily:{ix}:{day}", f"smscode-session:{requester.session}:{hour}",
                f"smscode-account:{requester.account}:{day}",
                f"smscode-address:{address}:{hour}", f"smscode-city:{minute}"]

    def _digest(self, phone: str, purpose: str, code: str) -> str:
        return self.vault.blind_index(f"{purpose}:{phone}:{code}", "sms_code")

    def send(self, sender: SmsSender, phone: str, purpose: str, requester: Requester,
             now: datetime | None = None) -> IssuedCode:
        """Make a new code for ``phone``, owned by ``requester``'s session, and text it,
        within the send limits."""
        if purpose not in PURPOSES:
            raise InvalidInput("invalid_purpose", "验证码用途不正确",
                               fields={"purpose": "应为 " + " / ".join(PURPOSES)})
        now = now or clock.now()
        keys = self._keys(phone, purpose, requester, now)
        code = f"{secrets.randbelow(10**6):06d}"
        limits = self.limits
        status, wait = self._issue(
            keys=keys,
            args=[self._digest(phone, purpose, code), CODE_TTL, RESEND_AFTER, DAILY_LIMIT,
                  2 * 24 * 3600, limits.per_session, limits.per_account,
                  limits.per_address if requester.address else 0, limits.per_minute,
                  HOUR, 120],
        )
        if status:
            raise _refusal(int(status), int(wait))
        try:
            sender.send(phone, "verification_code", {"code": code, "minutes": CODE_TTL // 60})
        except SmsSendError as error:
            self._undo(keys=keys)
            if error.retryable:
                raise Unavailable("sms_unavailable", "短信发送失败，请稍后再试") from error
            raise NotFound("sms_rejected", "该号码无法接收短信，请核对手机号",
                           fields={"phone": "无法接收短信"}) from error
        return IssuedCode(CODE_TTL, RESEND_AFTER)

    def verify(self, phone: str, purpose: str, code: str, requester: Requester) -> None:
        """Accept the code once, if ``requester``'s session asked for it; else raise
        Forbidden saying why it was refused."""
        key = self._code_key(phone, purpose, requester)
        status, left = self._check(keys=[key], args=[self._digest(phone, purpose, code),
                                                     MAX_TRIES])
        if status == 0:
            return
        if status == 1:
            message = "验证码已失效或未获取，请重新获取"
            raise Forbidden("sms_code_expired", message, fields={"sms_code": message})
        if status == 3:
            message = "验证码错误次数过多，请重新获取"
            raise Forbidden("sms_code_locked", message, fields={"sms_code": message})
        message = (f"验证码不正确，还可以再试{left}次" if left > 0
                   else "验证码不正确，错误次数过多，请重新获取")
        raise Forbidden("sms_code_wrong", message, fields={"sms_code": message})


def _refusal(status: int, wait: int) -> TooManyRequests:
    wait = max(wait, 1)
    minutes = max(1, (wait + 59) // 60)
    code, message = {
        1: ("sms_too_frequent", f"验证码发送太频繁，请{wait}秒后再试"),
        2: ("sms_daily_limit", f"该手机号今天已获取{DAILY_LIMIT}次验证码，请明天再试"),
        3: ("sms_session_limit", f"获取验证码的次数太多，请{minutes}分钟后再试"),
        4: ("sms_account_limit", "您今天获取验证码的次数已用完，请明天再试"),
        5: ("sms_address_limit", f"您所在的网络获取验证码太频繁，请{minutes}分钟后再试"),
        6: ("sms_busy", f"验证码发送繁忙，请{wait}秒后再试"),
    }[status]
    return TooManyRequests(code, message, retry_after=wait)
