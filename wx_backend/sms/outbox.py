"""The outbox backend: keeps each SMS in the database instead of sending it.

Used in development and tests; ``GET /dev/outbox`` shows what it holds. It writes in its own
transaction, as a real provider would accept a message whatever the caller does next.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from wx_backend.extensions import db, pii
from wx_backend.models import OutboxSms
from wx_backend.pii import INDEX_PHONE, mask_phone
from wx_backend.sms import SendResult, SmsSender, SmsSendError
from wx_backend.sms.templates import render

log = logging.getLogger(__name__)


class OutboxSender(SmsSender):
    """Stores messages in ``sms_outbox``; phones encrypted, found by blind index."""

    name = "outbox"

    def __init__(self, sign_name: str):
        self.sign_name = sign_name

    def send(self, phone: str, template: str, params: Mapping[str, object]) -> SendResult:
        try:
            text = render(template, params, self.sign_name)
        except ValueError as error:
            raise SmsSendError(str(error), retryable=False) from None
        with db.engine.begin() as connection:
            message_id = connection.execute(
                OutboxSms.__table__.insert().returning(OutboxSms.__table__.c.id),
                {
                    "phone": phone,
                    "phone_index": pii.vault.blind_index(phone, INDEX_PHONE),
                    "phone_masked": mask_phone(phone),
                    "template": template,
                    "text": text,
                },
            ).scalar_one()
        log.info("outbox sms %s to %s (%s)", message_id, mask_phone(phone), template)
        return SendResult(self.name, str(message_id))
