"""SMS: one sender interface, the backends behind it, and phone verification codes.

``init_app`` picks the backend named by ``SMS_BACKEND``; code that sends asks
``sender()`` for it and never knows which provider it talks to.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Flask, current_app

from wx_backend.config import ConfigError


@dataclass(frozen=True)
class SendResult:
    """What the provider said when it accepted a message."""

    provider: str
    message_id: str


class SmsSendError(Exception):
    """The provider did not accept the message; ``retryable`` says whether to try again."""

    def __init__(self, reason: str, *, retryable: bool):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class SmsSender(abc.ABC):
    """Sends one templated SMS to one mainland mobile number."""

    name: str

    @abc.abstractmethod
    def send(self, phone: str, template: str, params: Mapping[str, object]) -> SendResult:
        """Hand the message to the provider; raise SmsSendError if it refuses."""


def init_app(app: Flask) -> None:
    """Build the configured backend once per app."""
    backend = app.config["SMS_BACKEND"]
    if backend == "outbox":
        from wx_backend.sms.outbox import OutboxSender

        app.extensions["sms_sender"] = OutboxSender(app.config["SMS_SIGN_NAME"])
    else:
        raise ConfigError(f"SMS_BACKEND {backend!r} is unknown; available: outbox")


def sender() -> SmsSender:
    """The current app's SMS backend."""
    return current_app.extensions["sms_sender"]
