"""What the official account answers: commands, the binding conversation, the FAQ, events.

A text is, in this order: a step of a binding conversation in progress; a command
("查询", "绑定", "规则", "公告", "订阅公告", "帮助" and their variants); a number picking one
of the questions the bot just offered; otherwise a question for the FAQ matcher, which
answers when confident, offers the two or three closest questions when unsure, and
otherwise shows what the bot can do.

Everything answered here is read from PostgreSQL or Redis in milliseconds. What needs
WeChat or an SMS provider (learning a follower's unionid, texting a binding code) is a job
(``wx_backend.jobs.tasks``) that answers with a customer-service message, so the reply to
WeChat always comes well within its 5 seconds.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata

from sqlalchemy import select
from wechatpy.replies import BaseReply, TextReply

from wx_backend import jobs
from wx_backend.booking.directory import SNAPSHOT_TTL
from wx_backend.campaigns import manage
from wx_backend.core import clock
from wx_backend.core.clock import BEIJING
from wx_backend.extensions import db, redis_store
from wx_backend.models import Campaign, Resident
from wx_backend.official_account import announcements, binding, knowledge
from wx_backend.official_account.followers import follower
from wx_backend.official_account.status import miniprogram_link, status_text

log = logging.getLogger(__name__)

KNOWLEDGE_VERSION = knowledge.VERSION_KEY
SUGGESTION_SECONDS = 600
# WeChat shows at most 2048 bytes of a text reply; an announcement is cut to this many
# characters in the chat, with the rest in the mini-program.
NEWS_CHARS = 200
MAX_TEXT = 2000

STATUS_WORDS = {"查询", "我的预约", "预约查询", "查预约", "查询预约", "我的口罩", "查询结果",
                "预约结果", "中签查询", "摇号结果", "查询我的预约", "我的", "预约状态", "查状态"}
BIND_WORDS = {"绑定", "绑定账号", "绑定帐号", "账号绑定", "绑定身份", "关联账号", "绑定小程序"}
UNBIND_WORDS = {"解绑", "解除绑定", "取消绑定"}
RULES_WORDS = {"规则", "预约规则", "活动规则", "最新规则", "当前规则"}
NEWS_WORDS = {"公告", "最新公告", "通知", "最新通知", "最新消息"}
OPT_IN_WORDS = {"订阅", "订阅公告", "订阅通知", "接收公告", "接收通知"}
OPT_OUT_WORDS = {"退订", "退订公告", "取消订阅", "不再接收", "退订通知"}
HELP_WORDS = {"帮助", "菜单", "help", "?", "你好", "您好", "hi", "hello", "在吗", "人工",
              "人工客服"}

MENU_KEYS = {"MY_BOOKING": "status", "RULES": "rules", "LATEST_ANNOUNCEMENT": "news"}


HELP = ("您好，这里是口罩预约服务号。您可以回复：\n"
        "“查询”——查看我的预约和取货码\n"
        "“规则”——当前预约规则\n"
        "“公告”——最新公告\n"
        "“绑定”——绑定小程序账号\n"
        "“订阅公告”——规则变化时通知我\n"
        "也可以直接提问，比如“怎么预约”“没收到短信怎么办”。")


def state_key(openid: str) -> str:
    """Where the sender's conversation state (a binding in progress) lives in Redis."""
    return binding.state_key(openid)


def _suggestion_key(openid: str) -> str:
    return f"wx:oa:suggest:{openid}"


def normalise(text: str) -> str:
    """Full-width to half-width, no surrounding blanks or trailing punctuation."""
    text = unicodedata.normalize("NFKC", text or "")[:MAX_TEXT].strip()
    return re.sub(r"[\s。.!！?？~～,，、]+$", "", text).strip() or text.strip()


def answer(message, state: str | None, version: str) -> BaseReply | None:
    """The reply to one message or event (None: nothing to say)."""
    try:
        if message.type == "text":
            content = _answer_text(message.source, message.content or "", state, version)
        elif message.type == "event":
            content = _answer_event(message)
        else:
            content = "目前只能读懂文字消息。" + HELP
    except Exception:  # noqa: BLE001 - the resident gets a word, WeChat never an error
        log.exception("official account: answering a %s failed", message.type)
        db.session.rollback()
        content = "系统繁忙，请稍后再试。"
    if content is None:
        return None
    return TextReply(message=message, content=content)


def _answer_text(openid: str, raw: str, state: str | None, version: str) -> str:
    text = normalise(raw)
    lowered = text.lower()
    if state is not None:
        return binding.step(openid, text, json.loads(state))
    if lowered in STATUS_WORDS or "我的预约" in text:
        return status(openid)
    if lowered in BIND_WORDS:
        return binding.start(openid)
    if lowered in UNBIND_WORDS:
        return binding.unlink(openid)
    if lowered in RULES_WORDS:
        return rules_text()
    if lowered in NEWS_WORDS:
        return news_text()
    if lowered in OPT_IN_WORDS:
        return _opt(openid, True)
    if lowered in OPT_OUT_WORDS:
        return _opt(openid, False)
    if lowered in HELP_WORDS:
        return HELP
    if text in {"1", "2", "3"}:
        picked = _picked(openid, int(text))
        if picked is not None:
            return picked
    return _faq(openid, text, version)


def _faq(openid: str, text: str, version: str) -> str:
    found = knowledge.match(lambda: db.session, version, text)
    if found.entry is not None:
        return found.entry.answer
    if found.suggestions:
        redis_store.client.set(_suggestion_key(openid),
                               json.dumps([e.key for e in found.suggestions]),
                               ex=SUGGESTION_SECONDS)
        lines = [f"{n}. {entry.question}" for n, entry in enumerate(found.suggestions, 1)]
        return "您是想问：\n" + "\n".join(lines) + "\n请回复数字查看答案。"
    return "抱歉，没有找到您问题的答案。\n" + HELP


def _picked(openid: str, number: int) -> str | None:
    stored = redis_store.client.get(_suggestion_key(openid))
    if not stored:
        return None
    keys = json.loads(stored)
    if number > len(keys):
        return None
    for entry in knowledge.load(db.session)[0]:
        if entry.key == keys[number - 1]:
            return entry.answer
    return None


def _answer_event(message) -> str | None:
    event = message.event
    if event in ("subscribe", "subscribe_scan"):
        return welcome(message.source)
    if event == "unsubscribe":
        unsubscribe(message.source)
        return None
    if event == "click":
        what = MENU_KEYS.get(message.key or "")
        if what == "status":
            return status(message.source)
        if what == "rules":
            return rules_text()
        if what == "news":
            return news_text()
        return HELP
    return None


# -- followers ----------------------------------------------------------------------------

def welcome(openid: str) -> str:
    """Record the subscription, look up the unionid in a job, and say hello."""
    row = follower(openid)
    row.subscribed = True
    row.subscribed_at = clock.now()
    row.unsubscribed_at = None
    db.session.commit()
    _enqueue_link(openid, answer_status=False)
    return ("感谢关注！这里可以预约平价口罩、查询预约和取货码。\n\n"
            + rules_text(brief=True) + "\n\n" + miniprogram_link("点此进入小程序预约")
            + "\n回复“帮助”查看更多。")


def unsubscribe(openid: str) -> None:
    """No more pushes of any kind to this follower."""
    row = follower(openid)
    row.subscribed = False
    row.wants_announcements = False
    row.unsubscribed_at = clock.now()
    db.session.commit()


def _opt(openid: str, wanted: bool) -> str:
    row = follower(openid)
    row.wants_announcements = wanted
    db.session.commit()
    if wanted:
        return "已订阅：规则调整和重要公告会第一时间通知您。回复“退订公告”可取消。"
    return "已退订公告通知。您的预约成功、取货提醒等消息不受影响。"


def _enqueue_link(openid: str, answer_status: bool) -> None:
    try:
        jobs.enqueue("link_follower", openid, answer_status)
    except Exception:  # noqa: BLE001 - the queue being down must not cost the reply
        log.warning("could not enqueue the unionid lookup for a follower")


# -- status -------------------------------------------------------------------------------

def linked_resident(openid: str) -> int | None:
    """The resident this follower is linked to; links by a known unionid on the way."""
    row = follower(openid, create=False)
    if row is None:
        return None
    if row.resident_id is None and row.unionid:
        resident_id = db.session.scalar(select(Resident.id).where(Resident.unionid == row.unionid))
        if resident_id is not None:
            binding.link(row, resident_id, "unionid")
            db.session.commit()
    return row.resident_id


def status(openid: str) -> str:
    """The resident's bookings, or how to link the account first."""
    resident_id = linked_resident(openid)
    if resident_id is not None:
        return status_text(resident_id)
    row = follower(openid)
    db.session.commit()
    if row.unionid is None:
        _enqueue_link(openid, answer_status=True)
        return "正在查询您的预约，请稍候……"
    return ("还没有找到与您关联的小程序账号。\n回复“绑定”，用手机号和身份证号后6位绑定后即可查询。")


# -- rules and announcements ------------------------------------------------------------

class _Remembered:
    """A text this process re-reads from the database at most every ``seconds``: rules and
    announcements change rarely, and are asked for many times a second when they do (the
    booking path caches campaigns for as long, ``directory.SNAPSHOT_TTL``)."""

    def __init__(self, read, seconds: float = SNAPSHOT_TTL):
        self.read = read
        self.seconds = seconds
        self.texts: dict[tuple, tuple[float, str]] = {}

    def __call__(self, *args) -> str:
        now = time.monotonic()
        kept = self.texts.get(args)
        if kept is not None and now - kept[0] < self.seconds:
            return kept[1]
        text = self.read(*args)
        self.texts[args] = (now, text)
        return text

    def forget(self) -> None:
        self.texts.clear()


def rules_text(brief: bool = False) -> str:
    """The rules in force of every campaign, as residents are told them."""
    return _rules_texts(brief)


def news_text() -> str:
    """The latest visible announcements, newest first."""
    return _news_texts()


def forget_texts() -> None:
    """Re-read rules and announcements at the next question (after a change here)."""
    _rules_texts.forget()
    _news_texts.forget()


def _read_rules_text(brief: bool) -> str:
    now = clock.now()
    found = db.session.scalars(select(Campaign).order_by(Campaign.id)).all()
    if not found:
        return "目前没有进行中的预约活动，请留意公告。"
    parts = []
    for campaign in found:
        version, rules = manage.rules_in_force(db.session, campaign.id, now)
        parts.append(f"【{campaign.name}】（规则第{version}版）\n{rules.summary()}")
    if brief:
        return "当前规则：\n" + "\n".join(parts)
    return "\n\n".join(parts) + "\n\n回复“订阅公告”，规则调整时通知您。"


def _read_news_text() -> str:
    latest = announcements.visible(db.session, clock.now(), limit=3)
    if not latest:
        return "目前没有公告。"
    return "\n\n".join(f"【{a.title}】{a.publish_at.astimezone(BEIJING):%m月%d日 %H:%M}\n"
                       f"{_cut(a.body, NEWS_CHARS)}" for a in latest)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_rules_texts = _Remembered(_read_rules_text)
_news_texts = _Remembered(_read_news_text)
