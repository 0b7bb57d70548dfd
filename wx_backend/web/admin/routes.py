"""Editor routes: login, announcements (create, preview, schedule, publish, retract), FAQ."""

from __future__ import annotations

from datetime import datetime

from apiflask import APIBlueprint

from wx_backend.core import clock
from wx_backend.core.errors import InvalidInput
from wx_backend.extensions import db, redis_store
from wx_backend.models import Announcement, Editor, KnowledgeEntry
from wx_backend.official_account import announcements, editing, knowledge
from wx_backend.official_account.bot import normalise
from wx_backend.web.auth import StaffLoginIn, account_auth, token_login, token_logout
from wx_backend.web.input import json_object as _json

bp = APIBlueprint("admin", __name__, url_prefix="/api/v1/admin", tag="admin")


EDITOR_SESSION_TTL = 12 * 3600

editor_auth = account_auth(Editor, "editor", "EditorAuth",
                           "编辑令牌，由 POST /api/v1/admin/login 获得")


def _moment(value, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("invalid_announcement", "时间格式应为 ISO 8601",
                           fields={field: "格式不正确"}) from None
    if moment.tzinfo is None:
        raise InvalidInput("invalid_announcement", "时间需带时区，例如 +08:00",
                           fields={field: "缺少时区"})
    return moment


@bp.post("/login")
@bp.input(StaffLoginIn, arg_name="body")
@bp.doc(summary="编辑登录",
        responses={200: "成功", 401: "用户名或密码不正确", 429: "本网络登录失败次数太多"})
def editor_login(body):
    """Exchange username and password for an editor token."""
    editor, token = token_login("editor", body, EDITOR_SESSION_TTL)
    return {"token": token, "expires_in": EDITOR_SESSION_TTL, "role": editor.role}


@bp.post("/logout")
@bp.auth_required(editor_auth)
@bp.output({}, status_code=204)
@bp.doc(summary="退出登录（令牌立即失效）")
def editor_logout():
    """Revoke the token this request carries."""
    token_logout()
    return ""


# -- announcements ------------------------------------------------------------------------

@bp.get("/announcements")
@bp.auth_required(editor_auth)
@bp.doc(summary="全部公告（含草稿、排期、已撤回）")
def list_announcements():
    """Every announcement, newest first."""
    now = clock.now()
    rows = db.session.scalars(db.select(Announcement).order_by(Announcement.id.desc())
                              .limit(200)).all()
    return {"announcements": [announcements.announcement_body(a, now) for a in rows]}


@bp.post("/announcements")
@bp.auth_required(editor_auth)
@bp.doc(summary="新建公告草稿（可附规则调整）",
        responses={201: "已创建", 404: "活动不存在", 409: "规则调整与当前规则冲突"})
def create_announcement():
    """A new draft: ``title``, ``body``, optional ``campaign_id``, ``rules`` (a patch of the
    campaign's rules) and ``push`` (default true)."""
    made = announcements.create(db.session, editor_auth.current_user, _json())
    db.session.commit()
    return announcements.announcement_body(made, clock.now()), 201


@bp.get("/announcements/<int:announcement_id>")
@bp.auth_required(editor_auth)
@bp.doc(summary="公告详情",
        responses={200: "成功", 404: "公告不存在"})
def get_announcement(announcement_id: int):
    """One announcement."""
    return announcements.announcement_body(announcements.get(db.session, announcement_id),
                                           clock.now())


@bp.put("/announcements/<int:announcement_id>")
@bp.auth_required(editor_auth)
@bp.doc(summary="修改草稿",
        responses={200: "成功", 404: "公告不存在", 409: "只有草稿可以修改"})
def update_announcement(announcement_id: int):
    """Change a draft's fields."""
    found = announcements.get(db.session, announcement_id, for_update=True)
    announcements.update(db.session, editor_auth.current_user, found, _json())
    db.session.commit()
    return announcements.announcement_body(found, clock.now())


@bp.get("/announcements/<int:announcement_id>/preview")
@bp.auth_required(editor_auth)
@bp.doc(summary="预览：机器人回复、推送内容、规则前后对比、推送人数",
        responses={200: "成功", 404: "公告不存在"})
def preview_announcement(announcement_id: int):
    """What publishing would show and whom it would reach."""
    result = announcements.preview(db.session, announcements.get(db.session, announcement_id),
                                   clock.now())
    db.session.rollback()
    return result


@bp.post("/announcements/<int:announcement_id>/schedule")
@bp.auth_required(editor_auth)
@bp.doc(summary="定时发布（规则调整同时生效）",
        responses={200: "成功", 404: "公告不存在",
                   409: "当前状态不能定时发布，或规则调整尚未经运营人员批准（rules_not_approved）"})
def schedule_announcement(announcement_id: int):
    """Schedule for ``publish_at``; its rules change takes effect at the same moment."""
    data = _json()
    found = announcements.get(db.session, announcement_id, for_update=True)
    announcements.schedule(db.session, found, _moment(data.get("publish_at"), "publish_at"),
                           clock.now())
    db.session.commit()
    editing.refresh(found)
    return announcements.announcement_body(found, clock.now())


@bp.post("/announcements/<int:announcement_id>/publish")
@bp.auth_required(editor_auth)
@bp.doc(summary="立即发布并推送",
        responses={200: "成功", 404: "公告不存在",
                   409: "当前状态不能发布，或规则调整尚未经运营人员批准（rules_not_approved）"})
def publish_announcement(announcement_id: int):
    """Publish now: visible at once, rules change in force at once, pushes queued."""
    found = announcements.get(db.session, announcement_id, for_update=True)
    announcements.publish(db.session, found, clock.now())
    db.session.commit()
    editing.refresh(found)
    editing.push(found.id)
    return announcements.announcement_body(found, clock.now())


@bp.post("/announcements/<int:announcement_id>/retract")
@bp.auth_required(editor_auth)
@bp.doc(summary="撤回公告（尚未生效的规则调整一并撤回）",
        responses={200: "成功", 404: "公告不存在", 409: "当前状态不能撤回"})
def retract_announcement(announcement_id: int):
    """Hide it; ``reason`` is required."""
    data = _json()
    found = announcements.get(db.session, announcement_id, for_update=True)
    outcome = announcements.retract(db.session, found, data.get("reason"), clock.now())
    db.session.commit()
    editing.refresh(found)
    return {**announcements.announcement_body(found, clock.now()), **outcome}


# -- the FAQ ------------------------------------------------------------------------------

@bp.get("/faq")
@bp.auth_required(editor_auth)
@bp.doc(summary="知识库全部问题")
def list_faq():
    """Every entry, active or not."""
    rows = db.session.scalars(db.select(KnowledgeEntry).order_by(KnowledgeEntry.id)).all()
    return {"entries": [knowledge.entry_body(e) for e in rows]}


@bp.post("/faq")
@bp.auth_required(editor_auth)
@bp.doc(summary="新增问题",
        responses={201: "已创建", 409: "问题编号已存在"})
def create_faq():
    """A new entry: ``key``, ``question``, ``answer``, ``phrasings``, ``keywords``."""
    entry = knowledge.save_entry(db.session, editor_auth.current_user.id, _json())
    db.session.commit()
    knowledge.changed(redis_store.client)
    return knowledge.entry_body(entry), 201


@bp.put("/faq/<key>")
@bp.auth_required(editor_auth)
@bp.doc(summary="修改问题",
        responses={200: "成功", 404: "问题不存在"})
def update_faq(key: str):
    """Change an entry's fields (``active: false`` hides it from the bot)."""
    entry = knowledge.save_entry(db.session, editor_auth.current_user.id, _json(), key=key)
    db.session.commit()
    knowledge.changed(redis_store.client)
    return knowledge.entry_body(entry)


@bp.delete("/faq/<key>")
@bp.auth_required(editor_auth)
@bp.doc(summary="删除问题",
        responses={200: "成功", 404: "问题不存在"})
def delete_faq(key: str):
    """Remove an entry."""
    knowledge.delete_entry(db.session, key)
    db.session.commit()
    knowledge.changed(redis_store.client)
    return {"deleted": key}


@bp.post("/faq/try")
@bp.auth_required(editor_auth)
@bp.doc(summary="试问：机器人会怎么回答")
def try_faq():
    """What the bot's matcher makes of ``text``."""
    text = _json().get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("invalid_text", "请填写问题", fields={"text": "必填"})
    version = redis_store.client.get(knowledge.VERSION_KEY) or "0"
    found = knowledge.index(db.session, version).match(normalise(text))
    return {"answer": found.entry.key if found.entry else None,
            "suggestions": [e.key for e in found.suggestions], "score": found.score}
