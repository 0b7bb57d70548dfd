"""Public pages: the daily list of successful bookings (``booking.public_list``) as HTML
and CSV, each draw's published files and page with a resident's own rank, and every
store's stock left as open data (``booking.feed``), cacheable for five seconds.
"""

from __future__ import annotations

import json
from datetime import date

from flask import Blueprint, Response, current_app, render_template, request

from wx_backend.booking import feed, public_list, waiting_room
from wx_backend.core import clock
from wx_backend.core.errors import NotFound
from wx_backend.core.tabular import spreadsheet_csv
from wx_backend.extensions import db
from wx_backend.lottery import draw as verifiable
from wx_backend.lottery.pool import published_files, rank_in
from wx_backend.models import Campaign, Draw

bp = Blueprint("public", __name__, url_prefix="/public")


def _load(campaign_id: int, day: str):
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        raise NotFound("not_found", "日期格式应为 YYYY-MM-DD") from None
    now = clock.now()
    snapshot = current_app.extensions["directory"].snapshot(db.session, campaign_id, now)
    if not snapshot.rules.public_list:
        raise NotFound("not_published", "本活动不公示预约名单")
    return snapshot, wanted, public_list.day_list(db.session, current_app.extensions["redis"],
                                                  campaign_id, wanted, snapshot.rules.zone)


@bp.get("/campaigns/<int:campaign_id>/bookings/<day>.csv")
def bookings_csv(campaign_id: int, day: str):
    """The day's list as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese;
    store names and masked names are text a spreadsheet will not run)."""
    snapshot, wanted, lines = _load(campaign_id, day)
    text = spreadsheet_csv(["序号", "预约号", "姓名", "身份证号", "药店", "预约时间"], (
        [line["n"], line["reservation_no"], line["name"], line["id_number"], line["store"],
         line["booked_at"]] for line in lines))
    filename = f"{snapshot.slug}-{wanted.isoformat()}.csv"
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/campaigns/<int:campaign_id>/bookings/<day>")
def bookings_page(campaign_id: int, day: str):
    """The day's list as a page."""
    snapshot, wanted, lines = _load(campaign_id, day)
    return render_template("public_list.html", campaign=snapshot, day=wanted, lines=lines,
                           csv_name=f"{wanted.isoformat()}.csv")


# -- draws --------------------------------------------------------------------------------

def _draw(draw_id: int):
    found = db.session.get(Draw, draw_id)
    if found is None:
        raise NotFound("draw_not_found", "该期摇号不存在")
    return found


@bp.get("/draws/<int:draw_id>/<any('entries.txt', 'commitment.json', 'result.json', "
        "'ranking.csv'):name>")
def draw_file(draw_id: int, name: str):
    """One of the draw's public files, for ``wx-backend lottery verify``."""
    files = published_files(_draw(draw_id))
    if name not in files:
        raise NotFound("not_drawn_yet", "尚未开奖，结果文件开奖后公布")
    kinds = {"txt": "text/plain", "json": "application/json", "csv": "text/csv"}
    return Response(files[name], mimetype=kinds[name.rsplit(".", 1)[1]],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/draws/<int:draw_id>")
def draw_page(draw_id: int):
    """The draw's commitment and result, and a resident's own rank (``?reservation_no=``)."""
    found = _draw(draw_id)
    campaign = db.session.get(Campaign, found.campaign_id)
    commitment = verifiable.load_commitment(found.commitment)
    result = json.loads(found.result) if found.result else None
    wanted = (request.args.get("reservation_no") or "").strip()
    lookup = None
    if wanted:
        if not verifiable.RESERVATION.match(wanted):
            lookup = {"error": "预约号应为8位数字"}
        elif found.status != "drawn":
            lookup = {"error": "尚未开奖"}
        else:
            rank = rank_in(db.session, found.id, wanted)
            lookup = ({"error": f"{wanted} 不在本期摇号名单中"} if rank is None else
                      {"rank": rank, "won": rank <= found.quota})
    return render_template("public_draw.html", campaign=campaign, draw=found,
                           commitment=commitment, result=result, wanted=wanted, lookup=lookup)


def cacheable(response: Response, max_age: int) -> Response:
    """Public for ``max_age`` seconds, with an ETag (a matching ``If-None-Match`` gets 304)."""
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/campaigns/<int:campaign_id>/stock.json")
def stock_json(campaign_id: int):
    """Every store's stock left in the current window, at most five seconds old."""
    data = feed.stock_feed(db.session, current_app.extensions["stock"],
                           current_app.extensions["directory"], campaign_id, clock.now())
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return cacheable(Response(body, mimetype="application/json"), feed.MAX_AGE)


@bp.get("/campaigns/<int:campaign_id>/stock.csv")
def stock_csv(campaign_id: int):
    """The same as CSV (UTF-8 with a BOM, so Excel opens it)."""
    data = feed.stock_feed(db.session, current_app.extensions["stock"],
                           current_app.extensions["directory"], campaign_id, clock.now())
    # Store names and addresses come from uploaded files: through the spreadsheet writer.
    text = spreadsheet_csv(
        ["store_id", "name", "address", "district", "lat", "lng", "left", "counted_at"],
        ([store["id"], store["name"], store["address"], store["district"], store["lat"],
          store["lng"], store["left"], data["counted_at"]] for store in data["stores"]))
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f"inline; filename=stock-{campaign_id}.csv"
    return cacheable(response, feed.MAX_AGE)


def _room_proof(campaign_id: int, window_id: int) -> dict:
    now = clock.now()
    directory = current_app.extensions["directory"]
    snapshot = directory.snapshot(db.session, campaign_id, now)
    window = next((w for w in snapshot.windows if w.id == window_id), None)
    if window is None or snapshot.rules.waiting_room is None:
        raise NotFound("room_not_found", "这个时段没有排队")
    return waiting_room.proof(db.session, current_app.extensions["rooms"],
                              snapshot.rules.waiting_room, campaign_id, window, now,
                              directory.is_sold_out(window.id))


@bp.get("/campaigns/<int:campaign_id>/windows/<int:window_id>/room.json")
def room_json(campaign_id: int, window_id: int):
    """The waiting room's proof: the beacon round that orders it (and its randomness once
    out), and after it closes every joiner's place, so anyone can recompute the order
    (booking.waiting_room, docs/waiting_room.md)."""
    body = json.dumps(_room_proof(campaign_id, window_id), ensure_ascii=False,
                      separators=(",", ":"))
    return cacheable(Response(body, mimetype="application/json"), feed.MAX_AGE)


@bp.get("/campaigns/<int:campaign_id>/windows/<int:window_id>/room.csv")
def room_csv(campaign_id: int, window_id: int):
    """The same joiners as CSV (the beacon's round, its randomness and the method are in
    the JSON)."""
    proof = _room_proof(campaign_id, window_id)
    # Checked against room.json by anyone who recomputes the order; the writer changes
    # none of these cells (numbers, hex tags, 是/否), so both say the same.
    text = spreadsheet_csv(
        ["入场编号", "凭证标记", "排队位置", "开始前进入"],
        [*([row["join_no"], row["tag"], row["position"], "是"] for row in proof["early"]),
         *([row["join_no"], row["tag"], row["position"], "否"] for row in proof["late"])])
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f"inline; filename=room-{window_id}.csv"
    return cacheable(response, feed.MAX_AGE)
