"""Campaigns: creation from presets, versioned rules, windows and stores.

Plain functions over a SQLAlchemy session; the caller commits.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from wx_backend.campaigns import reservation
from wx_backend.campaigns.rules import Rules, jsonable, parse_rules
from wx_backend.core.errors import Conflict, InvalidInput, NotFound
from wx_backend.core.tabular import read_rows
from wx_backend.models import Announcement, Booking, Campaign, RulesVersion, Store, Window

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def create_campaign(session: Session, slug: str, rules_data: dict, now: datetime,
                    preset: str | None = None, name: str | None = None) -> Campaign:
    """A new campaign whose rules version 1 takes effect at ``now``, named ``name`` (or as
    its rules say). Short names are unique; a name given here must be too, so that an
    operator who makes two campaigns from one preset cannot mistake one for the other."""
    if not _SLUG.match(slug):
        raise InvalidInput("invalid_slug",
                           "简称应为2到63个小写字母、数字或短横线，如 zhengzhou-2026",
                           fields={"slug": "格式不正确"})
    if name is not None and name.strip():
        if not 2 <= len(name.strip()) <= 60:
            raise InvalidInput("invalid_name", "活动名称应为2到60个字",
                               fields={"name": "2到60个字"})
        rules_data = {**rules_data, "name": name.strip()}
    rules = parse_rules(rules_data)
    if session.scalar(select(Campaign.id).where(Campaign.slug == slug)) is not None:
        raise Conflict("slug_taken", f"已有简称为 {slug} 的活动", fields={"slug": "已被使用"})
    if name and session.scalar(select(Campaign.id).where(Campaign.name == rules.name)):
        raise Conflict("name_taken",
                       f"已有名为“{rules.name}”的活动，请另起一个名字（如加上城市或日期）",
                       fields={"name": "已被使用"})
    campaign = Campaign(slug=slug, name=rules.name, preset=preset,
                        reservation_key=reservation.new_key())
    session.add(campaign)
    session.flush()
    session.add(RulesVersion(campaign_id=campaign.id, version=1, effective_at=now,
                             rules=jsonable(rules_data), note="初始规则"))
    session.flush()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign, or NotFound with a resident-readable message."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign_not_found", "活动不存在")
    return campaign


def rules_in_force(session: Session, campaign_id: int, at: datetime) -> tuple[int, Rules]:
    """(version number, Rules) of the version in force at ``at``."""
    version = session.scalars(
        select(RulesVersion)
        .where(RulesVersion.campaign_id == campaign_id, RulesVersion.effective_at <= at)
        .order_by(RulesVersion.version.desc()).limit(1)
    ).first()
    if version is None:
        version = session.scalars(
            select(RulesVersion).where(RulesVersion.campaign_id == campaign_id)
            .order_by(RulesVersion.version).limit(1)).first()
    if version is None:
        raise NotFound("campaign_not_found", "活动不存在")
    return version.version, parse_rules(version.rules)


def merged_rules(base: dict, patch: dict) -> dict:
    """``base`` with the tables of ``patch`` merged in (other values, lists too, replaced)."""
    result = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged_rules(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def latest_rules(session: Session, campaign_id: int) -> RulesVersion:
    """The newest rules version (it may not be in force yet)."""
    found = session.scalars(select(RulesVersion).where(RulesVersion.campaign_id == campaign_id)
                            .order_by(RulesVersion.version.desc()).limit(1)).first()
    if found is None:
        raise NotFound("campaign_not_found", "活动不存在")
    return found


def amend_rules(session: Session, campaign: Campaign, patch: dict, effective_at: datetime,
                note: str, now: datetime) -> RulesVersion:
    """A new version: the newest rules with ``patch`` merged in, in force from
    ``effective_at`` (now or later; rules are never changed backwards). Raises RulesError
    when the merged rules do not hold together, InvalidInput for a time in the past."""
    if effective_at < now - timedelta(minutes=1):
        raise InvalidInput("effective_at_past", "生效时间不能早于现在",
                           fields={"effective_at": "不能早于现在"})
    merged = merged_rules(latest_rules(session, campaign.id).rules, patch)
    return change_rules(session, campaign, merged, max(effective_at, now), note, now)


def change_rules(session: Session, campaign: Campaign, rules_data: dict,
                 effective_at: datetime, note: str, now: datetime) -> RulesVersion:
    """Add a rules version; windows not yet open after ``effective_at`` are planned anew."""
    parse_rules(rules_data)
    latest = session.scalar(select(func.max(RulesVersion.version))
                            .where(RulesVersion.campaign_id == campaign.id)) or 0
    version = RulesVersion(campaign_id=campaign.id, version=latest + 1,
                           effective_at=effective_at, rules=jsonable(rules_data), note=note)
    session.add(version)
    booked = select(Booking.window_id).where(Booking.campaign_id == campaign.id)
    session.execute(delete(Window).where(
        Window.campaign_id == campaign.id,
        Window.opens_at >= max(effective_at, now),
        Window.id.not_in(booked),
    ))
    session.flush()
    start = max(effective_at, now)
    plan_windows(session, campaign, start.date() - timedelta(days=1), 3, now)
    return version


def withdraw_rules(session: Session, campaign: Campaign, version_no: int,
                   now: datetime) -> None:
    """Take back a rules version that has not taken effect: its windows go with it, unless
    someone booked one, and the days ahead are planned again from the versions left.
    Conflict for a version in force already, or one an announcement brought in (that one
    is withdrawn by retracting its announcement, so both go together)."""
    version = session.scalars(select(RulesVersion).where(
        RulesVersion.campaign_id == campaign.id, RulesVersion.version == version_no)).first()
    if version is None:
        raise NotFound("rules_version_not_found", f"没有第 {version_no} 版规则")
    if version.effective_at <= now:
        raise Conflict("rules_in_force", f"第 {version_no} 版规则已经生效，不能撤销；"
                       "请另存一版规则改回去")
    announced = session.scalar(select(Announcement.title).where(
        Announcement.campaign_id == campaign.id, Announcement.rules_version == version_no,
        Announcement.status != "retracted"))
    if announced is not None:
        raise Conflict("rules_announced", f"第 {version_no} 版规则随公告《{announced}》发布，"
                       "请让编辑撤回这条公告，规则会一并撤销")
    drop_version(session, campaign, version, now)


def drop_version(session: Session, campaign: Campaign, version: RulesVersion,
                 now: datetime) -> None:
    """Delete a version not yet in force and the unbooked windows it planned; plan the
    days ahead again."""
    booked = select(Booking.window_id).where(Booking.campaign_id == campaign.id)
    session.execute(delete(Window).where(Window.campaign_id == campaign.id,
                                         Window.rules_version == version.version,
                                         Window.id.not_in(booked)))
    session.delete(version)
    session.flush()
    plan_ahead(session, campaign, 2, now, back=1)


def set_store_active(session: Session, store: Store, active: bool) -> None:
    """Take a store off the list residents choose from (its bookings stay valid and are
    collected there), or put it back. The caller commits and forgets the campaign's
    snapshot."""
    store.active = active
    session.flush()


def plan_windows(session: Session, campaign: Campaign, first_day: date, days: int,
                 now: datetime) -> list[Window]:
    """Create the windows of ``days`` days from ``first_day`` that do not exist yet.

    Each window follows the rules version in force at its opening time; windows that have
    already closed at ``now`` are skipped.
    """
    versions = [(v.effective_at, v.version, parse_rules(v.rules)) for v in session.scalars(
        select(RulesVersion).where(RulesVersion.campaign_id == campaign.id)
        .order_by(RulesVersion.version))]

    def in_force(moment: datetime):
        chosen = versions[0]
        for candidate in versions:
            if candidate[0] <= moment:
                chosen = candidate
        return chosen

    # One planner at a time per campaign: each new window's sequence range starts where
    # the campaign's highest range ends (see Window.seq_base).
    session.execute(select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())
    existing = set(session.scalars(select(Window.opens_at)
                                   .where(Window.campaign_id == campaign.id)))
    next_base = max(
        session.scalar(select(func.max(Window.seq_base + 2 * Window.quota))
                       .where(Window.campaign_id == campaign.id)) or 0,
        session.scalar(select(func.max(Booking.seq))
                       .where(Booking.campaign_id == campaign.id)) or 0)
    created = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        for _, version, rules in versions:
            for opens_at, closes_at, quota in rules.spans_on(day):
                if opens_at in existing or closes_at <= now or in_force(opens_at)[1] != version:
                    continue
                window = Window(campaign_id=campaign.id, opens_at=opens_at,
                                closes_at=closes_at, quota=quota,
                                pickup_date=rules.pickup_date_for(opens_at),
                                rules_version=version, seq_base=next_base)
                next_base += 2 * quota  # room for reissued tickets (booking.stock)
                session.add(window)
                existing.add(opens_at)
                created.append(window)
    session.flush()
    return created


def plan_ahead(session: Session, campaign: Campaign, days: int, now: datetime,
               back: int = 0) -> list[Window]:
    """``plan_windows`` for ``days`` days from today in the campaign's own time zone (the
    day a Zhengzhou operator calls today, not the server's UTC date), starting ``back``
    days earlier."""
    zone = rules_in_force(session, campaign.id, now)[1].zone
    today = now.astimezone(zone).date()
    return plan_windows(session, campaign, today - timedelta(days=back), days + back, now)


# A store file's columns, by the Chinese names an operator's spreadsheet has (the first one
# is what an exported file uses); the English keys of older files are read too.
STORE_HEADERS = {"name": ("店名", "药店名称", "名称"), "address": ("地址",),
                 "district": ("区", "所在区", "区县"), "lat": ("纬度",), "lng": ("经度",),
                 "daily_cap": ("每日份额", "每日限量"), "opening_hours": ("营业时间",),
                 "channel": ("取货方式", "渠道")}
COLUMN_NAMES = {key: names[0] for key, names in STORE_HEADERS.items()}
STORE_COLUMNS = ("name", "address", "district", "lat", "lng", "daily_cap", "opening_hours")
CHANNELS = {"pickup": "pickup", "到店": "pickup", "到店自取": "pickup", "药店": "pickup",
            "postal": "postal", "邮寄": "postal", "邮政": "postal"}


@dataclass
class StoreImport:
    """What a CSV import did: rows created and updated, and errors by line number."""

    created: int = 0
    updated: int = 0
    errors: list[str] | None = None


def import_stores(session: Session, campaign: Campaign, text: str,
                  default_cap: int) -> StoreImport:
    """Create or update (by name) the stores listed in CSV ``text``.

    Columns (``STORE_HEADERS``: Chinese names, or the English keys of older files): 店名,
    地址, 区, 纬度, 经度, 每日份额 (blank: the rules' cap), 营业时间, and optionally 取货方式
    (到店, the default, or 邮寄 for the post office). Nothing is written when any row is
    bad; every bad row is reported.
    """
    found, missing = read_rows(text, STORE_HEADERS, optional=("channel",))
    if missing:
        return StoreImport(errors=[f"表头缺少列：{'、'.join(missing)}"])
    rows, errors, seen = [], [], set()
    for line, row in found:
        problems = []
        values = {key: (row.get(key) or "").strip() for key in STORE_COLUMNS}
        for key in ("name", "address", "district"):
            if not values[key]:
                problems.append(f"{COLUMN_NAMES.get(key, key)}未填写")
        if len(values["name"]) > 200 or len(values["address"]) > 300:
            problems.append("店名或地址太长")
        if values["name"] in seen:
            problems.append(f"店名“{values['name']}”重复出现")
        seen.add(values["name"])
        try:
            lat, lng = float(values["lat"]), float(values["lng"])
            if not (-90 <= lat <= 90 and -180 <= lng <= 180):
                raise ValueError
        except ValueError:
            problems.append(f"纬度/经度“{values['lat']},{values['lng']}”不是有效的坐标"
                            "（应为数字，如 34.7466,113.6253）")
            lat = lng = 0.0
        try:
            cap = int(values["daily_cap"]) if values["daily_cap"] else default_cap
            if cap < 0:
                raise ValueError
        except ValueError:
            problems.append(f"每日份额“{values['daily_cap']}”应为不小于0的整数")
            cap = 0
        written = (row.get("channel") or "").strip()
        channel = CHANNELS.get(written or "pickup")
        if channel is None:
            problems.append(f"取货方式“{written}”应为“到店”或“邮寄”")
        if problems:
            errors.append(f"第{line}行：" + "；".join(problems))
            continue
        rows.append(dict(name=values["name"], address=values["address"],
                         district=values["district"], lat=lat, lng=lng, daily_cap=cap,
                         opening_hours=values["opening_hours"] or "09:00-18:00",
                         channel=channel))
    if errors:
        return StoreImport(errors=errors)
    if not rows:
        return StoreImport(errors=["文件里没有药店"])
    result = StoreImport(errors=[])
    current = {s.name: s for s in session.scalars(select(Store)
                                                  .where(Store.campaign_id == campaign.id))}
    for values in rows:
        store = current.get(values["name"])
        if store is None:
            session.add(Store(campaign_id=campaign.id, **values))
            result.created += 1
        else:
            for key, value in values.items():
                setattr(store, key, value)
            result.updated += 1
    session.flush()
    return result
