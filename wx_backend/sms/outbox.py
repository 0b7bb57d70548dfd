"""The outbox backend: keeps each SMS in the database instead of sending it.

Used in development and tests; ``GET /dev/outbox`` shows what it holds. It writes in its own
transaction, as a real provider would accept a message whatever the caller does next, and
like a provider it refuses what a provider would refuse: a template it does not know, a
parameter missing, a number that is not a mainland mobile number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select

from wx_backend.core.pii import INDEX_PHONE, mask_phone
from wx_backend.extensions import db, pii
from wx_backend.models import OutboxSms
from wx_backend.sms.message import SendResult, SmsMessage, SmsOutcome, SmsSender, SmsSendError
from wx_backend.sms.templates import render

log = logging.getLogger(__name__)

MOBILE = re.compile(r"1[3-9][0-9]{9}")


class OutboxSender(SmsSender):
    """Stores messages in ``sms_outbox``; phones encrypted, found by blind index."""

    name = "outbox"
    max_batch = 100

    def __init__(self, sign_name: str):
        self.sign_name = sign_name

    def _row(self, phone: str, template: str, text: str, key: str | None = None,
             batch: str | None = None) -> dict:
        return {"phone": phone, "phone_index": pii.vault.blind_index(phone, INDEX_PHONE),
                "phone_masked": mask_phone(phone), "template": template, "text": text,
                "delivery_key": key, "batch_key": batch}

    def send(self, phone: str, template: str, params: Mapping[str, object]) -> SendResult:
        try:
            text = render(template, params, self.sign_name)
        except ValueError as error:
            raise SmsSendError(str(error), retryable=False) from None
        with db.engine.begin() as connection:
            message_id = connection.execute(
                OutboxSms.__table__.insert().returning(OutboxSms.__table__.c.id),
                self._row(phone, template, text)).scalar_one()
        log.info("outbox sms %s to %s (%s)", message_id, mask_phone(phone), template)
        return SendResult(self.name, str(message_id))

    def send_batch(self, messages: Sequence[SmsMessage]) -> list[SmsOutcome]:
        outcomes: dict[str, SmsOutcome] = {}
        rows, keys = [], []
        for message in messages:
            if not MOBILE.fullmatch(message.phone):
                outcomes[message.key] = SmsOutcome(message.key, ok=False,
                                                   error="invalid mobile number")
                continue
            if not message.text:
                outcomes[message.key] = SmsOutcome(message.key, ok=False,
                                                   error="empty message text")
                continue
            rows.append(self._row(message.phone, message.template,
                                  f"【{self.sign_name}】{message.text}", message.key,
                                  message.batch))
            keys.append(message.key)
        if rows:
            table = OutboxSms.__table__
            with db.engine.begin() as connection:
                ids = connection.execute(table.insert().returning(table.c.id,
                                                                  sort_by_parameter_order=True),
                                         rows).scalars().all()
            for key, message_id in zip(keys, ids):
                outcomes[key] = SmsOutcome(key, ok=True, message_id=str(message_id))
        return [outcomes[message.key] for message in messages]

    def accepted(self, messages: Sequence[SmsMessage], since: datetime) -> dict[str, str]:
        wanted = {(pii.vault.blind_index(m.phone, INDEX_PHONE), m.batch): m.key
                  for m in messages}
        batches = sorted({m.batch for m in messages})
        found = db.session.execute(
            select(OutboxSms.id, OutboxSms.phone_index, OutboxSms.batch_key)
            .where(OutboxSms.batch_key.in_(batches), OutboxSms.created_at >= since)).all()
        db.session.rollback()
        return {wanted[(row.phone_index, row.batch_key)]: str(row.id) for row in found
                if (row.phone_index, row.batch_key) in wanted}
