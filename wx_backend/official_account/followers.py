"""Work for followers that needs WeChat's API, run by jobs: the unionid lookup and
customer-service messages (the answer to a question the webhook could not answer within
WeChat's 5 seconds)."""

from __future__ import annotations

import logging

import requests
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from wechatpy.exceptions import WeChatClientException

from wx_backend.core import clock
from wx_backend.core.wechat import official_account_client
from wx_backend.extensions import db
from wx_backend.models import Follower, Resident
from wx_backend.official_account.status import status_text

log = logging.getLogger(__name__)


def follower(openid: str, create: bool = True) -> Follower | None:
    """The follower row, created (as subscribed) on first contact when ``create``."""
    row = db.session.get(Follower, openid)
    if row is None and create:
        # Two messages of a new follower may arrive together: one insert wins, both read it.
        db.session.execute(insert(Follower).values(openid=openid, subscribed=True,
                                                   subscribed_at=clock.now())
                           .on_conflict_do_nothing())
        row = db.session.get(Follower, openid)
    return row


def link(row: Follower, resident_id: int, how: str) -> None:
    """Link the follower to the resident (``how``: unionid or binding); the caller commits."""
    row.resident_id = resident_id
    row.linked_at = clock.now()
    row.linked_by = how


def tell(openid: str, content: str) -> bool:
    """Send a customer-service text (allowed for 48 hours after the follower wrote)."""
    try:
        official_account_client().message.send_text(openid, content)
    except (WeChatClientException, requests.RequestException) as error:
        log.warning("customer-service message not sent: %s", error)
        return False
    return True


def link_by_unionid(openid: str, answer_status: bool) -> dict:
    """Ask WeChat for the follower's unionid; link them to the resident who has it."""
    row = db.session.get(Follower, openid)
    if row is None:
        return {"skipped": "no such follower"}
    if row.unionid is None:
        try:
            info = official_account_client().user.get(openid)
        except WeChatClientException as error:
            # 40003: not a follower of ours; anything else: WeChat will not say now.
            log.warning("no user info for a follower: %s", error.errcode)
            info = {}
        row.unionid = (info or {}).get("unionid") or None
    if row.resident_id is None and row.unionid:
        resident_id = db.session.scalar(select(Resident.id)
                                        .where(Resident.unionid == row.unionid))
        if resident_id is not None:
            link(row, resident_id, "unionid")
    db.session.commit()
    if answer_status:
        if row.resident_id is not None:
            tell(openid, status_text(row.resident_id))
        else:
            tell(openid, "没有找到与您关联的小程序账号。\n"
                         "回复“绑定”，用手机号和身份证号后6位绑定后即可查询。")
    return {"linked": row.resident_id is not None}
