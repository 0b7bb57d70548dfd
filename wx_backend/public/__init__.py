"""Public pages: the daily list of successful bookings, as HTML and CSV.

Zhengzhou published every day who had booked successfully so residents could check that
nothing was faked. Names and ID numbers are masked; reservation numbers are shown so a
resident can find their own line.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, current_app, render_template
from sqlalchemy import select

from wx_backend.errors import NotFound
from wx_backend.extensions import db
from wx_backend.models import Booking, Campaign, Resident, Store, Window
from wx_backend.pii import mask_id_number, mask_name

bp = Blueprint("public", __name__, url_prefix="/public")


def successful_bookings(session, campaign_id: int, day: date, zone) -> list[dict]:
    """Masked lines for bookings made in windows that opened on ``day`` (not cancelled)."""
    start = datetime.combine(day, time(0), zone)
    rows = session.execute(
        select(Booking, Resident.name, Resident.id_number, Store.name.label("store"))
        .join(Window, Window.id == Booking.window_id)
        .join(Resident, Resident.id == Booking.resident_id)
        .join(Store, Store.id == Booking.store_id)
        .where(Booking.campaign_id == campaign_id, Booking.status != "cancelled",
               Window.opens_at >= start, Window.opens_at < start + timedelta(days=1))
        .order_by(Booking.created_at, Booking.id)).all()
    return [{"n": n, "reservation_no": b.reservation_no, "name": mask_name(name),
             "id_number": mask_id_number(id_number), "store": store,
             "booked_at": b.created_at.astimezone(zone).strftime("%H:%M:%S")}
            for n, (b, name, id_number, store) in enumerate(rows, start=1)]


PUBLISHED_TTL = 3 * 24 * 3600


def _published_key(campaign_id: int, day: date) -> str:
    return f"wx:public:{campaign_id}:{day.isoformat()}"


def publish_day(session, moment: datetime) -> dict:
    """Freeze each publishing campaign's list of the day ``moment`` falls on (the daily job).

    The frozen lines are served instead of a fresh query for three days, so a list that
    millions open the evening it is published costs one query, and reads the same for all.
    """
    from wx_backend.campaigns import rules_in_force

    client = current_app.extensions["redis"]
    published = {}
    for campaign_id in session.scalars(select(Campaign.id)):
        rules = rules_in_force(session, campaign_id, moment)[1]
        if not rules.public_list:
            continue
        day = moment.astimezone(rules.zone).date()
        lines = successful_bookings(session, campaign_id, day, rules.zone)
        client.set(_published_key(campaign_id, day), json.dumps(lines, ensure_ascii=False),
                   ex=PUBLISHED_TTL)
        published[campaign_id] = len(lines)
    session.rollback()
    return {"published": published}


def _load(campaign_id: int, day: str):
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        raise NotFound("not_found", "日期格式应为 YYYY-MM-DD") from None
    now = datetime.now().astimezone()
    snapshot = current_app.extensions["directory"].snapshot(db.session, campaign_id, now)
    if not snapshot.rules.public_list:
        raise NotFound("not_published", "本活动不公示预约名单")
    frozen = current_app.extensions["redis"].get(_published_key(campaign_id, wanted))
    if frozen is not None:
        return snapshot, wanted, json.loads(frozen)
    return snapshot, wanted, successful_bookings(db.session, campaign_id, wanted,
                                                 snapshot.rules.zone)


@bp.get("/campaigns/<int:campaign_id>/bookings/<day>.csv")
def bookings_csv(campaign_id: int, day: str):
    """The day's list as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese)."""
    snapshot, wanted, lines = _load(campaign_id, day)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["序号", "预约号", "姓名", "身份证号", "药店", "预约时间"])
    for line in lines:
        writer.writerow([line["n"], line["reservation_no"], line["name"], line["id_number"],
                         line["store"], line["booked_at"]])
    filename = f"{snapshot.slug}-{wanted.isoformat()}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/campaigns/<int:campaign_id>/bookings/<day>")
def bookings_page(campaign_id: int, day: str):
    """The day's list as a page."""
    snapshot, wanted, lines = _load(campaign_id, day)
    return render_template("public_list.html", campaign=snapshot, day=wanted, lines=lines,
                           csv_name=f"{wanted.isoformat()}.csv")
