"""Developer tools, registered only when ``DEV_TOOLS`` is on (never in production).

``GET /dev/outbox`` lists the latest SMS held by the outbox backend and the WeChat messages
the fake WeChat API received, so a developer or a test can read a verification code.
"""

from __future__ import annotations

import requests
from apiflask import APIBlueprint
from flask import current_app, request
from sqlalchemy import select

from wx_backend.core.errors import InvalidInput
from wx_backend.core.pii import INDEX_PHONE
from wx_backend.extensions import db, pii
from wx_backend.identity.residents import normalise_phone
from wx_backend.models import OutboxSms

bp = APIBlueprint("dev", __name__, url_prefix="/dev", tag="dev", enable_openapi=False)


@bp.get("/outbox")
def outbox():
    """Newest first; ``?phone=`` narrows the SMS to one number, ``?limit=`` (max 200)."""
    try:
        limit = min(max(int(request.args.get("limit", 20)), 1), 200)
    except ValueError:
        raise InvalidInput("invalid_limit", "limit 应为整数",
                           fields={"limit": "应为整数"}) from None
    query = select(OutboxSms).order_by(OutboxSms.id.desc()).limit(limit)
    if request.args.get("phone"):
        phone = normalise_phone(request.args["phone"])
        query = query.where(OutboxSms.phone_index == pii.vault.blind_index(phone, INDEX_PHONE))
    sms = [{"id": m.id, "phone": m.phone_masked, "template": m.template, "text": m.text,
            "created_at": m.created_at.isoformat()} for m in db.session.scalars(query)]
    wechat = []
    if current_app.config["FAKE_WECHAT"]:
        answer = requests.get(current_app.config["WECHAT_API_BASE_URL"] + "fake/messages",
                              timeout=5)
        wechat = answer.json()["messages"][-limit:][::-1]
    return {"sms": sms, "wechat": wechat}
