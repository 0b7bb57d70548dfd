"""Editor routes: login, announcements (create, preview, schedule, publish, retract), FAQ.

The bot's trial (``POST /faq-try``) is not under ``/faq/``: there it would share its URL
with the entry whose key is ``try``, and the URL's methods would be those of both.
"""

from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import List, String
from apiflask.validators import Length, Range

from wx_backend.core import clock
from wx_backend.extensions import db, redis_store
from wx_backend.models import Announcement, Editor, KnowledgeEntry
from wx_backend.official_account import announcements, editing, knowledge
from wx_backend.official_account.bot import normalise
from wx_backend.web.auth import account_auth, add_sign_in_routes
from wx_backend.web.input import Flag, Moment, Pattern, Table, Text, WholeNumber, describes

bp = APIBlueprint("admin", __name__, url_prefix="/api/v1/admin", tag="admin")


EDITOR_SESSION_TTL = 12 * 3600

editor_auth = account_auth(Editor, "editor", "EditorAuth",
                           "编辑令牌，由 POST /api/v1/admin/login 获得")


# -- what the routes take -------------------------------------------------------------------

_RULES_DOC = ("规则调整：活动规则的部分设置（与当前规则合并，列表和取值整体替换）；"
              "合并后的规则不成立时返回 409。须同时有活动")


def _announcement_fields(*, creating: bool) -> dict:
    required = {"required": True} if creating else {}
    return {
        "title": Text(1, announcements.TITLE_CHARS, "标题", **required),
        "body": Text(1, announcements.BODY_CHARS, "正文", **required),
        "campaign_id": WholeNumber(allow_none=True, validate=Range(1, 2**63 - 1,
                                                                   error="活动编号不正确"),
                                   metadata={"description": "所属活动；不填为全市公告"}),
        "rules": Table("规则调整", allow_none=True, metadata={"description": _RULES_DOC}),
        "push": Flag(metadata={"description": "发布时推送给关注者和预约者（默认是）"}),
    }


# A rules change needs its campaign: a new one names it, and an edit never clears it while
# sending rules (an edit that leaves the stored draft without one is refused with 409).
@describes(**{"if": {"properties": {"rules": {"type": "object"}}, "required": ["rules"]},
              "then": {"required": ["campaign_id"],
                       "properties": {"campaign_id": {"type": "integer"}}}})
class AnnouncementIn(Schema.from_dict(_announcement_fields(creating=True))):
    pass


@describes(**{"if": {"properties": {"rules": {"type": "object"}},
                     "required": ["rules", "campaign_id"]},
              "then": {"properties": {"campaign_id": {"type": "integer"}}}})
class AnnouncementEdit(Schema.from_dict(_announcement_fields(creating=False))):
    pass


class ScheduleIn(Schema):
    publish_at = Moment(required=True, metadata={
        "description": "发布时间：带时区，在将来一年之内（否则 409），"
                       "例如 2026-03-02T09:00:00+08:00"})


class RetractIn(Schema):
    reason = Text(1, 500, "撤回原因", required=True)


_FAQ_KEY = Pattern(r"^[a-z0-9_]{2,64}$", "key 应为2到64个小写字母、数字或下划线")
_LINE = Pattern(r"^[^\x00]{0,100}$", "每项不超过100字")


def _faq_fields(*, creating: bool) -> dict:
    required = {"required": True} if creating else {}
    fields = {
        "question": Text(1, 200, "问题", **required),
        "answer": Text(1, 1000, "回答", **required),
        "phrasings": List(String(validate=_LINE), allow_none=True,
                          validate=Length(max=30, error="最多30项"),
                          metadata={"description": "同一问题的其他问法（空白项忽略）"}),
        "keywords": List(String(validate=_LINE), allow_none=True,
                         validate=Length(max=20, error="最多20项")),
        "active": Flag(metadata={"description": "false：机器人不再用这一条回答"}),
    }
    if creating:
        fields["key"] = String(required=True, validate=_FAQ_KEY)
    return fields


FaqIn = Schema.from_dict(_faq_fields(creating=True), name="FaqIn")
FaqEdit = Schema.from_dict(_faq_fields(creating=False), name="FaqEdit")


class FaqTryIn(Schema):
    text = Text(1, 500, "问题", required=True)


add_sign_in_routes(bp, "editor", editor_auth, EDITOR_SESSION_TTL, "编辑",
                   lambda editor: {"role": editor.role})


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
@bp.input(AnnouncementIn, arg_name="body")
@bp.doc(summary="新建公告草稿（可附规则调整）",
        responses={201: "已创建", 404: "活动不存在",
                   409: "规则调整与当前规则冲突（rules_invalid）"})
def create_announcement(body):
    """A new draft: ``title``, ``body``, optional ``campaign_id``, ``rules`` (a patch of the
    campaign's rules) and ``push`` (default true)."""
    made = announcements.create(db.session, editor_auth.current_user, body)
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
@bp.input(AnnouncementEdit, arg_name="body")
@bp.doc(summary="修改草稿",
        responses={200: "成功", 404: "公告或活动不存在",
                   409: "只有草稿可以修改；规则调整与当前规则冲突（rules_invalid），"
                        "或规则调整没有活动（campaign_required）"})
def update_announcement(announcement_id: int, body):
    """Change a draft's fields (those sent)."""
    found = announcements.get(db.session, announcement_id, for_update=True)
    announcements.update(db.session, editor_auth.current_user, found, body)
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
@bp.input(ScheduleIn, arg_name="body")
@bp.doc(summary="定时发布（规则调整同时生效）",
        responses={200: "成功", 404: "公告不存在",
                   409: "当前状态不能定时发布，规则调整尚未经运营人员批准（rules_not_approved），"
                        "或发布时间不在将来一年之内（publish_at_past / publish_at_too_far）"})
def schedule_announcement(announcement_id: int, body):
    """Schedule for ``publish_at``; its rules change takes effect at the same moment."""
    found = announcements.get(db.session, announcement_id, for_update=True)
    announcements.schedule(db.session, editor_auth.current_user, found, body["publish_at"],
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
    announcements.publish(db.session, editor_auth.current_user, found, clock.now())
    db.session.commit()
    editing.refresh(found)
    editing.push(found.id)
    return announcements.announcement_body(found, clock.now())


@bp.post("/announcements/<int:announcement_id>/retract")
@bp.auth_required(editor_auth)
@bp.input(RetractIn, arg_name="body")
@bp.doc(summary="撤回公告（尚未生效的规则调整一并撤回）",
        responses={200: "成功", 404: "公告不存在", 409: "当前状态不能撤回"})
def retract_announcement(announcement_id: int, body):
    """Hide it; ``reason`` is required."""
    found = announcements.get(db.session, announcement_id, for_update=True)
    outcome = announcements.retract(db.session, editor_auth.current_user, found,
                                    body["reason"], clock.now())
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
@bp.input(FaqIn, arg_name="body")
@bp.doc(summary="新增问题",
        responses={201: "已创建", 409: "问题编号已存在（faq_exists）"})
def create_faq(body):
    """A new entry: ``key``, ``question``, ``answer``, ``phrasings``, ``keywords``."""
    entry = knowledge.save_entry(db.session, editor_auth.current_user, body)
    db.session.commit()
    knowledge.changed(redis_store.client)
    return knowledge.entry_body(entry), 201


@bp.put("/faq/<key>")
@bp.auth_required(editor_auth)
@bp.input(FaqEdit, arg_name="body")
@bp.doc(summary="修改问题",
        responses={200: "成功", 404: "问题不存在"})
def update_faq(key: str, body):
    """Change an entry's fields (``active: false`` hides it from the bot)."""
    entry = knowledge.save_entry(db.session, editor_auth.current_user, body, key=key)
    db.session.commit()
    knowledge.changed(redis_store.client)
    return knowledge.entry_body(entry)


@bp.delete("/faq/<key>")
@bp.auth_required(editor_auth)
@bp.doc(summary="删除问题", responses={200: "成功", 404: "问题不存在"})
def delete_faq(key: str):
    """Remove an entry."""
    knowledge.delete_entry(db.session, editor_auth.current_user, key)
    db.session.commit()
    knowledge.changed(redis_store.client)
    return {"deleted": key}


@bp.post("/faq-try")
@bp.auth_required(editor_auth)
@bp.input(FaqTryIn, arg_name="body")
@bp.doc(summary="试问：机器人会怎么回答")
def try_faq(body):
    """What the bot's matcher makes of ``text``."""
    text = body["text"]
    version = redis_store.client.get(knowledge.VERSION_KEY) or "0"
    found = knowledge.index(db.session, version).match(normalise(text))
    return {"answer": found.entry.key if found.entry else None,
            "suggestions": [e.key for e in found.suggestions], "score": found.score}
