"""What every SMS backend takes and answers: the message, its outcome, the refusal, and
the sender interface the backends implement (see ``wx_backend.sms``)."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


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
