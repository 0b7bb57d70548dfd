"""Announcements: editors write them; they may carry a campaign's rules change.

Life of an announcement: ``draft`` (editable, previewable) -> ``scheduled`` for
``publish_at`` -> ``published`` once its moment has come and its pushes were emitted;
``retracted`` at any point hides it.

A rules change is an editor's proposal: it takes effect only once an operator approved
exactly that change (``approve_rules``); any later edit of the rules or the campaign clears
the approval, and scheduling or publishing an unapproved change is refused. Both steps are
written to the audit trail.

Visibility is computed, not switched: an announcement is visible when it is scheduled or
published, its ``publish_at`` has passed and it is not retracted. Its rules change is a
``RulesVersion`` created when it is scheduled, with ``effective_at = publish_at``. So the
rule and the announcement start at the same instant without any job having to run on
time; the job at ``publish_at`` only marks it published and sends the pushes.

A rules change is given as a patch: the tables in ``rules`` are merged into the latest
rules version's data (lists and values are replaced), then checked as a whole. Retracting
before ``publish_at`` withdraws the rules change with it; after that moment the rules
stay in force (another announcement changes them back) and the answer says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import RulesError, jsonable, parse_rules
from wx_backend.core import clock
from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import Conflict, InvalidInput, NotFound
from wx_backend.identity.accounts import audit
from wx_backend.models import (
    Announcement,
    Booking,
    Campaign,
    Follower,
    RulesVersion,
    SubscribeConsent,
)
from wx_backend.notify import texts

TITLE_CHARS = 64
BODY_CHARS = 2000
SCHEDULE_AHEAD = timedelta(days=366)


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput("invalid_announcement", message, fields={field: message})


def get(session: Session, announcement_id: int, for_update: bool = False) -> Announcement:
    """The announcement, or NotFound."""
    query = select(Announcement).where(Announcement.id == announcement_id)
    found = session.scalars(query.with_for_update() if for_update else query).first()
    if found is None:
        raise NotFound("announcement_not_found", f"公告 {announcement_id} 不存在")
    return found


def _check_rules(session: Session, campaign_id: int | None, patch) -> dict | None:
    """The patch as stored, or None. A patch that is no table is invalid input; one that
    does not make valid rules merged with the campaign's latest conflicts with them (409:
    whether it does depends on those rules, not on the patch alone)."""
    if patch is None:
        return None
    if not isinstance(patch, dict) or not patch:
        raise _invalid("rules", "规则调整应为非空的设置表")
    try:
        parse_rules(manage.merged_rules(manage.latest_rules(session, campaign_id).rules, patch))
    except RulesError as error:
        raise Conflict("rules_invalid", f"规则调整与活动当前的规则合并后不成立：{error}",
                       fields={"rules": str(error)}) from None
    return jsonable(patch)


def _campaign_for_rules(announcement: Announcement, data: dict, creating: bool) -> None:
    """A rules change needs its campaign. Refused as invalid input when the request itself
    leaves it out (a new draft without one, or ``campaign_id: null`` beside ``rules``); as a
    conflict when the draft as stored is what lacks it."""
    rules = data.get("rules", announcement.rules)
    if rules is None or announcement.campaign_id is not None:
        return
    if data.get("rules") is not None and (creating or "campaign_id" in data):
        raise _invalid("campaign_id", "带规则调整的公告必须指定活动")
    raise Conflict("campaign_required", "带规则调整的公告必须指定活动",
                   fields={"campaign_id": "必填"})


def _apply_fields(session: Session, announcement: Announcement, data: dict,
                  creating: bool = False) -> None:
    if "title" in data:
        title = data["title"]
        if not isinstance(title, str) or not title.strip() or len(title.strip()) > TITLE_CHARS:
            raise _invalid("title", f"标题应为1到{TITLE_CHARS}个字")
        announcement.title = title.strip()
    if "body" in data:
        body = data["body"]
        if not isinstance(body, str) or not body.strip() or len(body.strip()) > BODY_CHARS:
            raise _invalid("body", f"正文应为1到{BODY_CHARS}个字")
        announcement.body = body.strip()
    if "campaign_id" in data:
        campaign_id = data["campaign_id"]
        if campaign_id is not None:
            if isinstance(campaign_id, bool) or not isinstance(campaign_id, int):
                raise _invalid("campaign_id", "活动编号应为整数")
            if session.get(Campaign, campaign_id) is None:
                raise NotFound("campaign_not_found", f"活动 {campaign_id} 不存在",
                               fields={"campaign_id": "不存在"})
        announcement.campaign_id = campaign_id
    if "push" in data:
        if not isinstance(data["push"], bool):
            raise _invalid("push", "push 应为 true 或 false")
        announcement.push = data["push"]
    if "rules" in data or "campaign_id" in data:
        _campaign_for_rules(announcement, data, creating)
        announcement.rules = _check_rules(session, announcement.campaign_id,
                                          data.get("rules", announcement.rules))


def _proposed(session: Session, editor, announcement: Announcement, before) -> None:
    """An edit that changed the rules change (or its campaign) needs a new approval."""
    if (announcement.rules, announcement.campaign_id) == before:
        return
    announcement.rules_approved_by = announcement.rules_approved_at = None
    if announcement.rules is not None:
        audit(session, "editor", editor, "propose_rules", f"announcement {announcement.id}",
              {"campaign_id": announcement.campaign_id, "rules": announcement.rules})


def create(session: Session, editor, data: dict) -> Announcement:
    """A new draft from an editor's JSON; a rules change in it is proposed for an
    operator's approval. The caller commits."""
    for required in ("title", "body"):
        if required not in data:
            raise _invalid(required, "必填")
    announcement = Announcement(created_by=editor.id, status="draft", push=True,
                                title="", body="")
    _apply_fields(session, announcement, data, creating=True)
    session.add(announcement)
    session.flush()
    audit(session, "editor", editor, "draft_announcement", f"announcement {announcement.id}")
    _proposed(session, editor, announcement, (None, None))
    return announcement


def update(session: Session, editor, announcement: Announcement, data: dict) -> Announcement:
    """Change a draft; scheduled or published ones must be retracted and written anew."""
    if announcement.status != "draft":
        raise Conflict("announcement_not_draft", "只有草稿可以修改；已排期或已发布的请撤回后重写")
    before = (announcement.rules, announcement.campaign_id)
    _apply_fields(session, announcement, data)
    _proposed(session, editor, announcement, before)
    announcement.updated_at = clock.now()
    session.flush()
    return announcement


def approve_rules(session: Session, announcement: Announcement, operator,
                  now: datetime) -> Announcement:
    """An operator approves the rules change a draft proposes, exactly as it stands; the
    editor may then schedule or publish it. The caller commits."""
    if announcement.status != "draft":
        raise Conflict("announcement_not_draft", "只有草稿中的规则调整需要批准")
    if announcement.rules is None:
        raise Conflict("no_rules_change", "该公告没有规则调整，无需批准")
    _check_rules(session, announcement.campaign_id, announcement.rules)
    announcement.rules_approved_by = operator.id
    announcement.rules_approved_at = now
    audit(session, "operator", operator, "approve_rules", f"announcement {announcement.id}",
          {"campaign_id": announcement.campaign_id, "rules": announcement.rules})
    session.flush()
    return announcement


def awaiting_approval(session: Session) -> list[Announcement]:
    """Drafts whose rules change no operator has approved yet, oldest first."""
    return list(session.scalars(select(Announcement).where(
        Announcement.status == "draft", Announcement.rules.is_not(None),
        Announcement.rules_approved_at.is_(None)).order_by(Announcement.id)))


def preview(session: Session, announcement: Announcement, now: datetime) -> dict:
    """What publishing would do: the texts, the rules before and after, who is reached."""
    body = announcement_body(announcement, now)
    result = {"announcement": body, "bot_reply": f"【{announcement.title}】\n{announcement.body}"}
    if announcement.rules is not None:
        latest = manage.latest_rules(session, announcement.campaign_id)
        after = parse_rules(manage.merged_rules(latest.rules, announcement.rules))
        result["rules"] = {"current_version": latest.version,
                           "new_version": latest.version + 1,
                           "current_summary": parse_rules(latest.rules).summary(),
                           "new_summary": after.summary()}
    params = push_params(session, announcement)
    event = texts.EVENTS["announcement"]
    result["template_message"] = texts.wechat_data(event.template_fields, params,
                                                   texts.EVENTS["announcement"].title)
    result["subscribe_message"] = texts.wechat_data(event.subscribe_fields, params)
    followers, residents = audience_counts(session, announcement)
    result["reach"] = {"followers": followers if announcement.push else 0,
                       "residents": residents if announcement.push else 0}
    return result


def _take_effect(session: Session, announcement: Announcement, at: datetime,
                 now: datetime) -> None:
    """Schedule for ``at``: the rules change (if any) becomes a version effective then."""
    if announcement.rules is not None and announcement.rules_approved_at is None:
        raise Conflict("rules_not_approved",
                       "该公告包含规则调整，需运营人员批准后才能排期或发布")
    announcement.publish_at = at
    announcement.status = "scheduled"
    if announcement.rules is not None:
        campaign = session.get(Campaign, announcement.campaign_id)
        merged = manage.merged_rules(manage.latest_rules(session, campaign.id).rules,
                                     announcement.rules)
        try:
            version = manage.change_rules(session, campaign, merged, effective_at=at,
                                             note=f"公告：{announcement.title}", now=now)
        except RulesError as error:  # the campaign's rules moved since the approval
            raise Conflict("rules_invalid", f"规则调整与活动当前的规则合并后不成立：{error}",
                           fields={"rules": str(error)}) from None
        announcement.rules_version = version.version
    announcement.updated_at = clock.now()
    session.flush()


def _withdraw_rules(session: Session, announcement: Announcement, now: datetime) -> bool:
    """Undo a rules change not yet in force; False when it is already in force."""
    if announcement.rules_version is None:
        return True
    version = session.scalars(select(RulesVersion).where(
        RulesVersion.campaign_id == announcement.campaign_id,
        RulesVersion.version == announcement.rules_version)).first()
    if version is None:
        return True
    if version.effective_at <= now:
        return False
    manage.drop_version(session, session.get(Campaign, announcement.campaign_id), version, now)
    announcement.rules_version = None
    return True


def schedule(session: Session, editor, announcement: Announcement, publish_at: datetime,
             now: datetime) -> Announcement:
    """Schedule a draft (or move a scheduled one) to ``publish_at``, in the future and
    within ``SCHEDULE_AHEAD``; a moment outside that conflicts with the clock (409)."""
    if publish_at.tzinfo is None:
        raise _invalid("publish_at", "发布时间需带时区，例如 2026-03-02T09:00:00+08:00")
    if publish_at <= now:
        raise Conflict("publish_at_past", "发布时间应在将来；立即发布请用 publish",
                       fields={"publish_at": "已过去"})
    if publish_at > now + SCHEDULE_AHEAD:
        raise Conflict("publish_at_too_far", "发布时间最多排到一年以后",
                       fields={"publish_at": "太远"})
    if announcement.status == "scheduled" and announcement.publish_at > now:
        _withdraw_rules(session, announcement, now)
    elif announcement.status != "draft":
        raise Conflict("announcement_not_draft", "只有草稿或尚未生效的排期公告可以排期")
    _take_effect(session, announcement, publish_at, now)
    audit(session, "editor", editor, "schedule_announcement", f"announcement {announcement.id}",
          {"publish_at": publish_at.isoformat()})
    return announcement


def publish(session: Session, editor, announcement: Announcement,
            now: datetime) -> Announcement:
    """Publish now (a draft, or a scheduled one ahead of its time); the caller commits
    and then sends the pushes (``push``)."""
    if announcement.status == "scheduled" and announcement.publish_at > now:
        _withdraw_rules(session, announcement, now)
    elif announcement.status != "draft":
        raise Conflict("announcement_not_draft", "该公告已发布或已撤回")
    _take_effect(session, announcement, now, now)
    announcement.status = "published"
    session.flush()
    audit(session, "editor", editor, "publish_announcement", f"announcement {announcement.id}")
    return announcement


def retract(session: Session, editor, announcement: Announcement, reason: str,
            now: datetime) -> dict:
    """Hide the announcement; a rules change not yet in force is withdrawn with it."""
    if announcement.status == "retracted":
        raise Conflict("announcement_retracted", "该公告已撤回")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise _invalid("reason", "请填写撤回原因（不超过500字）")
    rules_withdrawn = _withdraw_rules(session, announcement, now)
    announcement.status = "retracted"
    announcement.retracted_at = now
    announcement.retract_reason = reason.strip()
    announcement.updated_at = clock.now()
    session.flush()
    audit(session, "editor", editor, "retract_announcement", f"announcement {announcement.id}",
          {"reason": announcement.retract_reason, "rules_remain_in_force": not rules_withdrawn})
    return {"rules_remain_in_force": not rules_withdrawn}


def is_visible(announcement: Announcement, now: datetime) -> bool:
    """Shown to residents now."""
    return (announcement.status in ("scheduled", "published")
            and announcement.publish_at is not None and announcement.publish_at <= now)


def visible(session: Session, now: datetime, campaign_id: int | None = None,
            limit: int = 20) -> list[Announcement]:
    """Announcements residents see now, newest first (one campaign's plus general ones)."""
    query = (select(Announcement)
             .where(Announcement.status.in_(("scheduled", "published")),
                    Announcement.publish_at <= now)
             .order_by(Announcement.publish_at.desc(), Announcement.id.desc()).limit(limit))
    if campaign_id is not None:
        query = query.where(or_(Announcement.campaign_id == campaign_id,
                                Announcement.campaign_id.is_(None)))
    return list(session.scalars(query))


def due(session: Session, now: datetime) -> list[int]:
    """Scheduled announcements whose moment has come but which are not marked published."""
    return list(session.scalars(select(Announcement.id).where(
        Announcement.status == "scheduled", Announcement.publish_at <= now)))


def mark_published(session: Session, announcement_id: int, now: datetime) -> bool:
    """Scheduled -> published once its moment has come; False when there is nothing to do."""
    announcement = get(session, announcement_id, for_update=True)
    if announcement.status != "scheduled" or announcement.publish_at > now:
        return False
    announcement.status = "published"
    announcement.updated_at = clock.now()
    session.flush()
    return True


def announcement_body(announcement: Announcement, now: datetime) -> dict:
    """An announcement as the APIs show it."""
    return {
        "id": announcement.id,
        "campaign_id": announcement.campaign_id,
        "title": announcement.title,
        "body": announcement.body,
        "status": announcement.status,
        "visible": is_visible(announcement, now),
        "publish_at": announcement.publish_at.isoformat() if announcement.publish_at else None,
        "rules_version": announcement.rules_version,
        "rules_change": announcement.rules,
        "rules_approved_at": (announcement.rules_approved_at.isoformat()
                              if announcement.rules_approved_at else None),
        "push": announcement.push,
        "pushed_at": announcement.pushed_at.isoformat() if announcement.pushed_at else None,
        "retracted_at": (announcement.retracted_at.isoformat()
                         if announcement.retracted_at else None),
        "retract_reason": announcement.retract_reason,
    }


def public_body(announcement: Announcement) -> dict:
    """An announcement as residents see it."""
    return {"id": announcement.id, "campaign_id": announcement.campaign_id,
            "title": announcement.title, "body": announcement.body,
            "published_at": announcement.publish_at.isoformat(),
            "rules_version": announcement.rules_version}


# -- pushes -------------------------------------------------------------------------------

def push_params(session: Session, announcement: Announcement) -> dict[str, str]:
    """The parameters the announcement's WeChat messages show."""
    campaign = (session.get(Campaign, announcement.campaign_id)
                if announcement.campaign_id else None)
    moment = (announcement.publish_at or clock.now()).astimezone(BEIJING)
    return {"campaign": campaign.name if campaign else "全市",
            "title": announcement.title,
            "summary": announcement.body.replace("\n", " "),
            "published_at": f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"}


def affected_residents(announcement: Announcement):
    """Residents an announcement concerns: holders of a live booking in its campaign
    (everyone, for a general announcement), as a select of resident ids."""
    if announcement.campaign_id is None:
        return select(SubscribeConsent.resident_id).where(
            SubscribeConsent.event == "announcement")
    return select(Booking.resident_id).where(Booking.campaign_id == announcement.campaign_id,
                                             Booking.status == "confirmed")


def audience_counts(session: Session, announcement: Announcement) -> tuple[int, int]:
    """(followers who opted in, affected residents who allowed a subscribe message)."""
    followers = session.scalar(select(func.count()).select_from(Follower).where(
        Follower.subscribed, Follower.wants_announcements)) or 0
    residents = session.scalar(select(func.count(func.distinct(SubscribeConsent.resident_id)))
                               .where(SubscribeConsent.event == "announcement",
                                      SubscribeConsent.remaining > 0,
                                      SubscribeConsent.resident_id.in_(
                                          affected_residents(announcement)))) or 0
    return followers, residents
