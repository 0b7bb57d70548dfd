"""What the Aliyun and Tencent adapters share: settings, refusal verdicts, the batch ledger.

Every provider refusal is judged twice: may the message be tried again later
(``retryable``), and how far does the refusal reach (``Scope``)?

- ``NUMBER``: about one phone number (invalid, blacklisted, that number's rate limit). In a
  call carrying several numbers the adapter asks again number by number, so the others
  still go out.
- ``REQUEST``: about this call's template, parameters or signature. Its messages get the
  outcome; other calls of the batch go on.
- ``ACCOUNT``: about the account as a whole (credentials, throttling, balance). Its messages
  get the outcome and the rest of the batch is not attempted: they share the same fate.
- ``UNKNOWN``: no usable answer (timeout, connection error, HTTP 5xx, a provider system
  error). The provider may or may not have taken the messages, so ``send_batch`` raises
  ``SmsSendError(retryable=True)`` and the caller asks ``accepted`` before trying again.

``send_batch`` also raises ``SmsSendError(retryable=True)`` when every message meant for the
provider was held back by one account-wide retryable refusal (a throttled account): then
nothing was sent and all of them are in the same state, as the interface expects. In every
other case it answers one outcome per message.
"""

from __future__ import annotations

import enum
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from wx_backend.config import ConfigError
from wx_backend.core.pii import mask_phone
from wx_backend.sms.message import SmsMessage, SmsOutcome, SmsSendError
from wx_backend.sms.templates import TEMPLATES, placeholders

_PHONE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86)?1[3-9][0-9]{9}(?![0-9])")
_TRANSIENT_WORDS = ("timeout", "timedout", "unavailable", "internalerror", "internal_error",
                    "system_error", "systemerror", "gateway_error", "busy")


class Scope(enum.Enum):
    """How far a refusal reaches; see the module docstring."""

    NUMBER = "number"
    REQUEST = "request"
    ACCOUNT = "account"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    """What a provider's refusal means for the messages it concerns."""

    retryable: bool
    scope: Scope


NUMBER_RETRY = Verdict(True, Scope.NUMBER)
NUMBER_GIVE_UP = Verdict(False, Scope.NUMBER)
REQUEST_RETRY = Verdict(True, Scope.REQUEST)
REQUEST_GIVE_UP = Verdict(False, Scope.REQUEST)
ACCOUNT_RETRY = Verdict(True, Scope.ACCOUNT)
ACCOUNT_GIVE_UP = Verdict(False, Scope.ACCOUNT)
UNKNOWN_STATE = Verdict(True, Scope.UNKNOWN)


def judge(code: str, exact: Mapping[str, Verdict],
          prefixes: Sequence[tuple[str, Verdict]]) -> Verdict:
    """Look ``code`` up in a provider's tables.

    Codes in neither table are given up on, so that an operator sees them, unless they
    read like a timeout or a server fault; then the state of the message is unknown.
    """
    if code in exact:
        return exact[code]
    for prefix, verdict in prefixes:
        if code.startswith(prefix):
            return verdict
    squashed = code.lower().replace(".", "")
    if any(word in squashed for word in _TRANSIENT_WORDS):
        return UNKNOWN_STATE
    return REQUEST_GIVE_UP


class CallFailed(Exception):
    """One provider call got no acceptance; ``reason`` is safe to log and store."""

    def __init__(self, reason: str, verdict: Verdict):
        super().__init__(reason)
        self.reason = reason
        self.verdict = verdict


def scrub(text: object, limit: int = 300) -> str:
    """Provider text made safe to log and store: phone numbers masked, length bounded."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    cleaned = _PHONE_IN_TEXT.sub(lambda m: mask_phone(m[0]), str(text)).strip()
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"


# --- settings ---------------------------------------------------------------------------

def require(config: Mapping, backend: str, names: Sequence[str]) -> None:
    """Raise ConfigError naming every one of ``names`` that ``config`` leaves empty."""
    missing = [name for name in names if not str(config.get(name) or "").strip()]
    if missing:
        raise ConfigError(f"SMS_BACKEND={backend} needs these settings: {', '.join(missing)}")


def parse_endpoint(name: str, value: str) -> tuple[str, str]:
    """(``host[:port]``, scheme) from a host name (HTTPS) or a full ``http(s)://`` URL."""
    value = (value or "").strip()
    if "://" not in value:
        if not value or "/" in value or " " in value:
            raise ConfigError(f"{name} must be a host name such as sms.example.com or a URL "
                              f"such as http://127.0.0.1:8801, got {value!r}")
        return value, "https"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be a host name or an http(s)://host[:port] URL "
                          f"without a path, got {value!r}")
    return parts.netloc, parts.scheme


def parse_template_codes(raw: object) -> dict[str, str]:
    """``SMS_TEMPLATE_CODES``: a JSON object of our template names -> provider codes."""
    example = '{"booking_confirmed": "SMS_4711", "verification_code": "SMS_4712"}'
    if isinstance(raw, Mapping):
        codes = raw
    else:
        try:
            codes = json.loads(str(raw or "{}"))
        except ValueError as error:
            raise ConfigError(f"SMS_TEMPLATE_CODES is not valid JSON ({error}); expected an "
                              f"object such as {example}") from None
    if not isinstance(codes, Mapping):
        raise ConfigError("SMS_TEMPLATE_CODES must be a JSON object mapping template names "
                          f"to provider template codes, such as {example}")
    bad = [name for name, code in codes.items()
           if not isinstance(name, str) or not isinstance(code, (str, int))
           or isinstance(code, bool) or not str(code).strip()]
    if bad:
        raise ConfigError("SMS_TEMPLATE_CODES needs a non-empty provider code (a string) for "
                          f"every template; check {', '.join(map(repr, bad))}")
    return {name: str(code).strip() for name, code in codes.items()}


def parse_timeout(raw: object) -> float:
    """``SMS_TIMEOUT`` in seconds, positive."""
    try:
        seconds = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"SMS_TIMEOUT must be a number of seconds, got {raw!r}") from None
    if not seconds > 0:
        raise ConfigError(f"SMS_TIMEOUT must be more than 0 seconds, got {raw!r}")
    return seconds


# --- messages ---------------------------------------------------------------------------

def template_code(codes: Mapping[str, str], template: str,
                  provider_template: str | None = None) -> str | None:
    """The provider's code for a message: the campaign's own, else the configured one."""
    return provider_template or codes.get(template)


def missing_code_reason(template: str) -> str:
    return (f"no provider template code for SMS template {template!r}: add it to "
            "SMS_TEMPLATE_CODES")


def ordered_params(template: str, params: Mapping[str, object]) -> list[tuple[str, str]]:
    """(name, text) pairs in the default template's placeholder order when known."""
    if template in TEMPLATES:
        order = placeholders(TEMPLATES[template])
        ranked = sorted(params, key=lambda n: order.index(n) if n in order else len(order))
        return [(name, str(params[name])) for name in ranked]
    return [(name, str(value)) for name, value in params.items()]


def chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


class BatchLedger:
    """Collects what each provider call said about the messages of one ``send_batch``.

    Thread-safe: the Tencent adapter feeds it from a pool. ``outcomes`` applies the
    raise-or-answer rule of the module docstring.
    """

    def __init__(self, messages: Sequence[SmsMessage]):
        self.messages = list(messages)
        self._outcomes: list[SmsOutcome | None] = [None] * len(self.messages)
        self._lock = threading.Lock()
        self._halt: tuple[str, Verdict] | None = None
        self._unknown: str | None = None
        self._sent: set[int] = set()
        self._held_back: set[int] = set()

    @property
    def halted(self) -> bool:
        """True once a refusal stops the rest of the batch from being attempted."""
        return self._halt is not None

    def _set(self, index: int, outcome: SmsOutcome) -> None:
        self._outcomes[index] = outcome

    def give_up_locally(self, index: int, reason: str) -> None:
        """A message we cannot hand over at all (no template code)."""
        with self._lock:
            self._set(index, SmsOutcome(self.messages[index].key, ok=False, error=reason))

    def accept(self, index: int, message_id: str) -> None:
        with self._lock:
            self._sent.add(index)
            self._set(index, SmsOutcome(self.messages[index].key, ok=True,
                                        message_id=message_id))

    def refuse(self, index: int, reason: str, verdict: Verdict) -> None:
        """The provider answered for this one message."""
        with self._lock:
            self._sent.add(index)
            self._set(index, SmsOutcome(self.messages[index].key, ok=False, error=reason,
                                        retryable=verdict.retryable))

    def call_failed(self, indices: Sequence[int], reason: str, verdict: Verdict) -> None:
        """A whole call failed; its scope decides whether the rest of the batch goes on."""
        with self._lock:
            self._sent.update(indices)
            if verdict.scope is Scope.UNKNOWN and self._unknown is None:
                self._unknown = reason
            if verdict.scope in (Scope.UNKNOWN, Scope.ACCOUNT) and self._halt is None:
                self._halt = (reason, verdict)
            if verdict.scope is Scope.ACCOUNT and verdict.retryable:
                self._held_back.update(indices)
            for index in indices:
                self._set(index, SmsOutcome(self.messages[index].key, ok=False, error=reason,
                                            retryable=verdict.retryable))

    def skip(self, indices: Sequence[int]) -> None:
        """Messages not attempted because an earlier refusal halted the batch."""
        with self._lock:
            assert self._halt is not None
            reason, verdict = self._halt
            self._sent.update(indices)
            if verdict.retryable:
                self._held_back.update(indices)
            for index in indices:
                self._set(index, SmsOutcome(self.messages[index].key, ok=False,
                                            error=f"not sent: {reason}",
                                            retryable=verdict.retryable))

    def outcomes(self) -> list[SmsOutcome]:
        """One outcome per message in input order, or SmsSendError for the whole batch."""
        with self._lock:
            if self._unknown is not None:
                raise SmsSendError(self._unknown, retryable=True)
            if self._sent and self._sent <= self._held_back:
                assert self._halt is not None
                raise SmsSendError(self._halt[0], retryable=True)
            missing = [i for i, outcome in enumerate(self._outcomes) if outcome is None]
            assert not missing, f"no outcome for messages {missing}"
            return list(self._outcomes)  # type: ignore[arg-type]
