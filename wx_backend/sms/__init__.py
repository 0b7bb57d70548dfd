"""SMS: one sender interface (``message``), the backends behind it, and phone verification
codes.

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

from flask import Flask, current_app

from wx_backend.config import ConfigError
from wx_backend.extensions import pii, redis_store
from wx_backend.sms.aliyun import AliyunSender
from wx_backend.sms.codes import CodeLimits, VerificationCodes
from wx_backend.sms.message import SendResult, SmsMessage, SmsOutcome, SmsSender, SmsSendError
from wx_backend.sms.outbox import OutboxSender
from wx_backend.sms.tencent import TencentSender

__all__ = ["BACKENDS", "SendResult", "SmsMessage", "SmsOutcome", "SmsSendError", "SmsSender",
           "init_app", "sender", "verification_codes"]

BACKENDS = ("outbox", "aliyun", "tencent")


def init_app(app: Flask) -> None:
    """Build the configured backend once per app."""
    backend = app.config["SMS_BACKEND"]
    if backend == "outbox":
        app.extensions["sms_sender"] = OutboxSender(app.config["SMS_SIGN_NAME"])
    elif backend == "aliyun":
        app.extensions["sms_sender"] = AliyunSender.from_config(app.config)
    elif backend == "tencent":
        app.extensions["sms_sender"] = TencentSender.from_config(app.config)
    else:
        raise ConfigError(
            f"SMS_BACKEND {backend!r} is unknown; available: {', '.join(BACKENDS)}")


def sender() -> SmsSender:
    """The current app's SMS backend."""
    return current_app.extensions["sms_sender"]


def verification_codes() -> VerificationCodes:
    """The current app's verification codes, with its send limits."""
    return VerificationCodes(redis_store.client, pii.vault,
                             CodeLimits.from_config(current_app.config))
