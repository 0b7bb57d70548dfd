"""Editors: announcements as a workflow. Draft (with a rules change written as the rule
fields, not JSON), preview exactly what the bot, the template message and the subscribe
message will say, with the rules before and after and whom it reaches, then publish now,
schedule, or retract. The same ``announcements`` calls as the admin API. And the FAQ the
bot answers from, with a box that shows what the matcher makes of a question."""

from __future__ import annotations

import re
from datetime import datetime

from flask import g, redirect, render_template, request, url_for
from sqlalchemy import select

from wx_backend.core import clock
from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import DomainError
from wx_backend.extensions import db, redis_store
from wx_backend.models import Announcement, Campaign, KnowledgeEntry
from wx_backend.notify import texts
from wx_backend.official_account import announcements, editing, knowledge
from wx_backend.official_account.bot import normalise
from wx_backend.web.console import rules_form
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp

ROLE = "editor"
BOT_REPLY_BYTES = 2048  # the longest text WeChat takes as a passive reply
STATUS_NAMES = {"draft": "草稿", "scheduled": "定时发布", "published": "已发布",
                "retracted": "已撤回"}

@bp.get("/editor")
@requires(ROLE)
def editor(notice=None, status: int = 200):
    """Announcements, newest first, with their state and rules change."""
    now = clock.now()
    found = db.session.scalars(select(Announcement).order_by(Announcement.id.desc())
                               .limit(200)).all()
    return render_template("console/editor/home.html", statuses=STATUS_NAMES, notice=notice,
                           announcements=[announcements.announcement_body(a, now)
                                          for a in found]), status


def _draft_form(found: Announcement | None):
    """Write a draft, or change one: the same form, kept as it was filled in when a field
    is refused (the push box too, ticked or not)."""
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id)).all()
    errors, message = {}, None
    if request.method == "POST":
        form = dict(request.form)
        raw_campaign = form.get("campaign_id") or ""
        chosen = raw_campaign.isascii() and raw_campaign.isdigit()
        data = {"title": form.get("title", ""), "body": form.get("body", ""),
                "campaign_id": int(raw_campaign) if chosen else None,
                "push": form.get("push") == "on"}
        try:
            patch = rules_form.patch_from(form)
            data["rules"] = patch
            if found is None:
                found = announcements.create(db.session, g.actor, data)
            else:
                announcements.update(db.session, g.actor, found, data)
        except DomainError as refused:
            db.session.rollback()
            errors, message = refused.fields or {}, refused.message
        else:
            db.session.commit()
            return redirect(url_for("console.editor_preview", announcement_id=found.id))
    elif found is not None:
        form = {"title": found.title, "body": found.body,
                "campaign_id": str(found.campaign_id or ""),
                "push": "on" if found.push else "", **rules_form.form_of(found.rules)}
    else:
        form = {"push": "on"}
    return render_template("console/editor/new.html", form=form, errors=errors,
                           message=message, campaigns=campaigns, editing=found,
                           fulfilments=rules_form.FULFILMENTS), 422 if message else 200


@bp.route("/editor/new", methods=["GET", "POST"])
@requires(ROLE)
def editor_new():
    """Write a draft."""
    return _draft_form(None)


@bp.route("/editor/<int:announcement_id>/edit", methods=["GET", "POST"])
@requires(ROLE)
def editor_edit(announcement_id: int):
    """Change a draft (scheduled and published ones are retracted and written anew)."""
    found = announcements.get(db.session, announcement_id, for_update=request.method == "POST")
    if found.status != "draft":
        return editor({"kind": "error", "text": "只有草稿可以修改；已排期或已发布的请撤回后重写"},
                      409)
    return _draft_form(found)


@bp.get("/editor/<int:announcement_id>/preview")
@requires(ROLE)
def editor_preview(announcement_id: int):
    """Exactly what publishing would show, and to whom, field by field under its label, with
    a warning wherever WeChat will cut a text."""
    found = announcements.get(db.session, announcement_id)
    result = announcements.preview(db.session, found, clock.now())
    params = announcements.push_params(db.session, found)
    event = texts.EVENTS["announcement"]
    rows = {"template": texts.preview_rows(event.template_fields, params),
            "subscribe": texts.preview_rows(event.subscribe_fields, params)}
    reply_bytes = len(result["bot_reply"].encode())
    db.session.rollback()
    return render_template("console/editor/preview.html", announcement=found,
                           preview=result, statuses=STATUS_NAMES, rows=rows,
                           reply_too_long=reply_bytes > BOT_REPLY_BYTES)


@bp.post("/editor/<int:announcement_id>/publish")
@requires(ROLE)
def editor_publish(announcement_id: int):
    """Publish now: visible at once, its rules change in force at once, pushes queued."""
    found = announcements.get(db.session, announcement_id, for_update=True)
    announcements.publish(db.session, g.actor, found, clock.now())
    db.session.commit()
    editing.refresh(found)
    editing.push(found.id)
    return editor({"kind": "ok", "text": f"已发布：{found.title}"})


@bp.post("/editor/<int:announcement_id>/schedule")
@requires(ROLE)
def editor_schedule(announcement_id: int):
    """Publish at a Beijing time; its rules change takes effect at the same moment."""
    raw = request.form.get("publish_at", "")
    try:
        moment = datetime.fromisoformat(raw).replace(tzinfo=BEIJING)
    except ValueError:
        return editor({"kind": "error", "text": "请填写发布时间"}, 422)
    found = announcements.get(db.session, announcement_id, for_update=True)
    announcements.schedule(db.session, g.actor, found, moment, clock.now())
    db.session.commit()
    editing.refresh(found)
    return editor({"kind": "ok", "text": f"已定时：{found.title}，{moment:%m月%d日 %H:%M} 发布"})


@bp.post("/editor/<int:announcement_id>/retract")
@requires(ROLE)
def editor_retract(announcement_id: int):
    """Hide it, with a reason; a rules change not yet in force is withdrawn with it."""
    found = announcements.get(db.session, announcement_id, for_update=True)
    outcome = announcements.retract(db.session, g.actor, found, request.form.get("reason"),
                                    clock.now())
    db.session.commit()
    editing.refresh(found)
    if found.rules is not None and outcome["rules_remain_in_force"]:
        return editor({"kind": "ok", "text": (
            f"已撤回：{found.title}。注意：它带来的规则调整已经生效，撤回公告不会恢复原规则；"
            "如需改回，请另写一份带规则调整的公告（经运营人员批准后发布）。")})
    if found.rules is not None:
        return editor({"kind": "ok",
                       "text": f"已撤回：{found.title}，它的规则调整尚未生效，已一并取消。"})
    return editor({"kind": "ok", "text": f"已撤回：{found.title}"})


# -- the FAQ ------------------------------------------------------------------------------

def _faq_page(form=None, editing_key=None, notice=None, errors=None, status: int = 200):
    rows = db.session.scalars(select(KnowledgeEntry).order_by(KnowledgeEntry.id)).all()
    return render_template("console/editor/faq.html", entries=rows, form=form or {},
                           editing_key=editing_key, notice=notice, errors=errors or {}), status


@bp.get("/editor/faq")
@requires(ROLE)
def editor_faq():
    """The knowledge base the bot answers from, and the "try a question" box."""
    key = request.args.get("key")
    entry = db.session.scalars(select(KnowledgeEntry).where(KnowledgeEntry.key == key)).first() \
        if key else None
    form = knowledge.entry_body(entry) if entry else {}
    if entry:
        form["phrasings"] = "\n".join(form["phrasings"])
        form["keywords"] = "、".join(form["keywords"])
    return _faq_page(form, entry.key if entry else None)


@bp.post("/editor/faq")
@requires(ROLE)
def editor_faq_save():
    """Add an entry, or change the one named by ``editing_key``."""
    form = dict(request.form)
    data = {"question": form.get("question", ""), "answer": form.get("answer", ""),
            "phrasings": [p.strip() for p in form.get("phrasings", "").splitlines()
                          if p.strip()],
            "keywords": [k.strip() for k in re.split(r"[、,，\s]+", form.get("keywords", ""))
                         if k.strip()],
            "active": form.get("active") == "on"}
    editing_key = form.get("editing_key") or None
    if editing_key is None:
        data["key"] = form.get("key", "")
    try:
        entry = knowledge.save_entry(db.session, g.actor, data, key=editing_key)
    except DomainError as refused:
        db.session.rollback()
        return _faq_page(form, editing_key, {"kind": "error", "text": refused.message},
                         refused.fields, 422)
    db.session.commit()
    knowledge.changed(redis_store.client)
    return _faq_page(notice={"kind": "ok", "text": f"已保存：{entry.question}"})


@bp.post("/editor/faq/try")
@requires(ROLE)
def editor_faq_try():
    """What the bot would answer to a question (htmx: the answer and its runners-up)."""
    text = (request.form.get("text") or "").strip()
    if not text:
        return render_template("console/_notice.html", text="请输入一个问题", kind="error")
    version = redis_store.client.get(knowledge.VERSION_KEY) or "0"
    found = knowledge.index(db.session, version).match(normalise(text))
    db.session.rollback()
    return render_template("console/editor/_faq_try.html", found=found, text=text)
