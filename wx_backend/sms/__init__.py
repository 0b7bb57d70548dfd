"""SMS: one sender interface, the backends behind it, and phone verification codes.

``init_app`` picks the backend named by ``SMS_BACKEND`` (``outbox``, ``aliyun`` or
``tencent``); code that sends asks ``sender()`` for it and never knows which provider it
talks to.

Two ways to send:

- ``send`` hands one message over and raises ``SmsSendError`` when it is refused (used for
  verification codes, which a resident waits for in the request).
- ``send_batch`` hands over many ``SmsMessage`` at once, as few provider calls as the
  provider allows, and answers one ``SmsOutcome`` per message. It raises ``SmsSendError``
  only when the whole call failed and nothing can be said per message (a timeout, a 5xx,
  a throttled account); then every message in it is in the same state.

Each message carries ``key``, our delivery id, and ``batch``, the token under which the
messages of one ``send_batch`` were claimed; no phone occurs twice in one batch. Backends
pass the batch token to the provider (Aliyun's ``OutId``, Tencent's ``SessionContext``),
so that ``accepted`` can later ask the provider which messages of a batch it did accept,
by phone and token: after a worker died in the middle of a call we neither lose nor repeat
a message.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

from wx_backend.config import ConfigError

BACKENDS = ("outbox", "aliyun", "tencent")


@dataclass(frozen=True)
class SendResult:
    """What the provider said when it accepted a message."""

    provider: str
    message_id: str


@dataclass(frozen=True)
class SmsMessage:
    """One message of a batch.

    ``template`` is our template name (``sms.templates.TEMPLATES``); ``provider_template``
    the provider's approved template code for it when the campaign names its own, else
    ``None`` (the backend looks the name up in ``SMS_TEMPLATE_CODES``). ``params`` are in
    the template's placeholder order; ``text`` is the body as rendered, without the
    signature (the provider, or the outbox, puts 【SMS_SIGN_NAME】 in front).
    """

    key: str
    batch: str
    phone: str
    template: str
    params: Mapping[str, str]
    text: str
    provider_template: str | None = None


@dataclass(frozen=True)
class SmsOutcome:
    """What became of one message of a batch."""

    key: str
    ok: bool
    message_id: str | None = None
    error: str | None = None
    retryable: bool = False


class SmsSendError(Exception):
    """The provider did not accept the message; ``retryable`` says whether to try again."""

    def __init__(self, reason: str, *, retryable: bool):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class SmsSender(abc.ABC):
    """Sends templated SMS to mainland mobile numbers."""

    name: str
    #: how many messages one ``send_batch`` call may carry at most
    max_batch: int = 100

    @abc.abstractmethod
    def send(self, phone: str, template: str, params: Mapping[str, object]) -> SendResult:
        """Hand one message to the provider; raise SmsSendError if it refuses."""

    @abc.abstractmethod
    def send_batch(self, messages: Sequence[SmsMessage]) -> list[SmsOutcome]:
        """Hand many messages over; one outcome per message, in the same order."""

    @abc.abstractmethod
    def accepted(self, messages: Sequence[SmsMessage], since: datetime) -> dict[str, str]:
        """Which of ``messages`` (sent no earlier than ``since``) the provider accepted.

        A message counts as accepted when the provider holds a message to its phone under
        its batch token. Answers ``{key: provider message id}``; raises
        ``SmsSendError(retryable=True)`` when the provider cannot be asked right now.
        """


def init_app(app: Flask) -> None:
    """Build the configured backend once per app."""
    backend = app.config["SMS_BACKEND"]
    # Imported here, not at the top: a deployment uses one provider, and each SDK costs
    # start-up time; the senders also build on the types above.
    if backend == "outbox":
        from wx_backend.sms.outbox import OutboxSender

        app.extensions["sms_sender"] = OutboxSender(app.config["SMS_SIGN_NAME"])
    elif backend == "aliyun":
        from wx_backend.sms.aliyun import AliyunSender

        app.extensions["sms_sender"] = AliyunSender.from_config(app.config)
    elif backend == "tencent":
        from wx_backend.sms.tencent import TencentSender

        app.extensions["sms_sender"] = TencentSender.from_config(app.config)
    else:
        raise ConfigError(
            f"SMS_BACKEND {backend!r} is unknown; available: {', '.join(BACKENDS)}")


def sender() -> SmsSender:
    """The current app's SMS backend."""
    return current_app.extensions["sms_sender"]
