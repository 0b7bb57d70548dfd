"""Delivery orders: made when a portion is to be sent, exported per courier and day, and
moved along by the couriers' status files.

- ``order_for``: to the holder's verified address by ``postal`` (the rules' fee, paid on
  delivery) or ``express`` (free) when the address lies in the delivery area; otherwise,
  or by choice, to a ``collection_point`` (one of the campaign's stores).
- ``export_csv``: the orders of one courier made on one day (campaign time), with what the
  courier needs to deliver (name, phone, address in full: this file goes to the courier,
  not to the public), written by ``core.tabular.spreadsheet_csv`` so that no resident's
  text opens as a formula in the courier's spreadsheet.
- ``switch_bookings``: a rules change that drops pickup (Guangzhou moved to free home
  delivery mid-campaign) sends the live bookings of the campaign to their holders' homes;
  a holder whose address is missing or outside the delivery area keeps the pickup.
- ``import_statuses``: the courier's CSV of 订单号, 状态 (已发货, 已签收, 投递失败) and
  运单号 (or ``order_id,status,tracking_no`` with English statuses); statuses
  move ``pending -> shipped -> delivered | failed`` only; one bad line and nothing changes.

Plain functions over a SQLAlchemy session; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from wx_backend.booking.households import in_area
from wx_backend.campaigns.rules import Rules
from wx_backend.core import clock
from wx_backend.core.errors import Conflict, InvalidInput, NotFound
from wx_backend.core.tabular import read_rows, spreadsheet_csv
from wx_backend.models import Booking, PostalOrder, Resident, Store

ORDER_STATUS_NAMES = {"pending": "待发货", "shipped": "已发货", "delivered": "已签收",
                      "failed": "投递失败"}
NEXT = {"pending": {"shipped", "failed"}, "shipped": {"delivered", "failed"},
        "delivered": set(), "failed": set()}
# The courier's file, with the column names a courier's office reads; the statuses they
# send back are read by the same Chinese names (or the English keys of older files).
EXPORT_COLUMNS = ("订单号", "预约号", "配送方式", "收件人", "手机号", "地址", "自提点",
                  "费用（元）", "货到付款")
CHANNEL_NAMES = {"postal": "邮寄", "express": "送货上门", "collection_point": "自提点"}
STATUS_HEADERS = {"order_id": ("订单号",), "status": ("状态",), "tracking_no": ("运单号",)}
STATUS_WORDS = {"已发货": "shipped", "已签收": "delivered", "投递失败": "failed",
                "shipped": "shipped", "delivered": "delivered", "failed": "failed"}


def order_for(session: Session, rules: Rules, campaign_id: int, resident: Resident,
              reservation_no: str, channel: str, store_id: int | None = None,
              entry_id: int | None = None, booking_id: int | None = None,
              free: bool = False) -> PostalOrder:
    """A pending order for one portion; refuses an address outside the delivery area."""
    settings = rules.delivery
    if channel in ("postal", "express"):
        if not in_area(resident.address, settings.area):
            raise Conflict("outside_delivery_area",
                           "您的地址不在配送范围（" + "、".join(settings.area)
                           + "），请选择到自提点领取")
        courier = settings.postal_courier if channel == "postal" else settings.express_courier
        fee = settings.postal_fee_fen if channel == "postal" and not free else 0
        store = None
    elif channel == "collection_point":
        store = session.get(Store, store_id) if store_id else None
        if store is None or store.campaign_id != campaign_id or not store.active:
            raise NotFound("collection_point_not_found", "请选择本活动的自提点",
                           fields={"store_id": "不是本活动的自提点"})
        courier, fee = store.name[:40], 0
    else:
        raise InvalidInput("invalid_fulfilment", "领取方式不正确", fields={"fulfilment": channel})
    order = PostalOrder(campaign_id=campaign_id, resident_id=resident.id, entry_id=entry_id,
                          booking_id=booking_id,
                          reservation_no=reservation_no, channel=channel, courier=courier,
                          store_id=store.id if store else None, name=resident.name,
                          phone=resident.phone, address=resident.address, fee_fen=fee,
                          cash_on_delivery=fee > 0, status="pending")
    session.add(order)
    session.flush()
    return order


def export_csv(session: Session, campaign_id: int, courier: str, day: date, zone) -> str:
    """The courier's orders made on ``day`` as CSV for a spreadsheet (UTF-8 with a BOM,
    text that would start a formula neutralised)."""
    start = datetime.combine(day, time(0), zone)
    rows = session.execute(
        select(PostalOrder, Store.name).outerjoin(Store, Store.id == PostalOrder.store_id)
        .where(PostalOrder.campaign_id == campaign_id, PostalOrder.courier == courier,
               PostalOrder.created_at >= start,
               PostalOrder.created_at < start + timedelta(days=1))
        .order_by(PostalOrder.id)).all()
    # Names and addresses are the residents' own text: the writer keeps a formula in one
    # from running on the courier's computer (core.tabular.spreadsheet_cell).
    return spreadsheet_csv(EXPORT_COLUMNS, (
        [order.id, order.reservation_no, CHANNEL_NAMES.get(order.channel, order.channel),
         order.name, order.phone, order.address, store or "", f"{order.fee_fen / 100:.2f}",
         "是" if order.cash_on_delivery else "否"] for order, store in rows))


def switch_bookings(session: Session, campaign_id: int, rules: Rules,
                    now: datetime) -> list[int]:
    """Delivery orders for the campaign's confirmed bookings not yet collected, when the
    rules no longer offer pickup; answers the ids of the bookings that now travel."""
    if "pickup" in rules.fulfilment:
        return []
    channel = next((c for c in ("express", "postal") if c in rules.fulfilment), None)
    if channel is None:
        return []
    switched = []
    for booking, resident in session.execute(
            select(Booking, Resident).join(Resident, Resident.id == Booking.resident_id)
            .where(Booking.campaign_id == campaign_id, Booking.status == "confirmed",
                   Booking.pickup_ends_at > now,
                   ~select(PostalOrder.id).where(PostalOrder.booking_id == Booking.id)
                   .exists())
            .order_by(Booking.id)).all():
        if not resident.address or not in_area(resident.address, rules.delivery.area):
            continue
        order_for(session, rules, campaign_id, resident, booking.reservation_no, channel,
                  booking_id=booking.id)
        switched.append(booking.id)
    return switched


@dataclass
class StatusImport:
    """What an import did, or the errors (by line) that stopped it."""

    updated: int = 0
    errors: list[str] = field(default_factory=list)


def import_statuses(session: Session, text: str) -> StatusImport:
    """Apply a courier's lines (订单号, 状态, 运单号), all or nothing."""
    found, missing = read_rows(text, STATUS_HEADERS, optional=("tracking_no",))
    if missing:
        return StatusImport(errors=["表头缺少列：" + "、".join(missing)])
    wanted = []
    errors = []
    for line, row in found:
        raw_id = (row.get("order_id") or "").strip()
        written = (row.get("status") or "").strip()
        status = STATUS_WORDS.get(written)
        tracking = (row.get("tracking_no") or "").strip() or None
        if not (raw_id.isascii() and raw_id.isdigit()):
            errors.append(f"第{line}行：订单号“{raw_id}”不是数字")
            continue
        if status is None:
            errors.append(f"第{line}行：状态“{written}”应为已发货、已签收或投递失败")
            continue
        if tracking is not None and len(tracking) > 40:
            errors.append(f"第{line}行：运单号超过40个字符")
            continue
        wanted.append((line, int(raw_id), status, tracking))
    orders = {o.id: o for o in session.scalars(
        select(PostalOrder).where(PostalOrder.id.in_([w[1] for w in wanted]))
        .with_for_update())}
    for line, order_id, status, _ in wanted:
        order = orders.get(order_id)
        if order is None:
            errors.append(f"第{line}行：没有订单 {order_id}")
        elif status != order.status and status not in NEXT[order.status]:
            errors.append(f"第{line}行：订单 {order_id} 不能从"
                          f"{ORDER_STATUS_NAMES[order.status]}改为{ORDER_STATUS_NAMES[status]}")
    if errors:
        return StatusImport(errors=errors)
    result = StatusImport()
    now = clock.now()
    for _, order_id, status, tracking in wanted:
        order = orders[order_id]
        if order.status != status or (tracking and order.tracking_no != tracking):
            order.status = status
            order.tracking_no = tracking or order.tracking_no
            order.updated_at = now
            result.updated += 1
    session.flush()
    return result


def check_deliverable(session: Session, rules: Rules, resident_id: int) -> Resident:
    """The resident, if the post can reach them: an address inside the delivery area."""
    resident = session.get(Resident, resident_id)
    if resident is None or not resident.address:
        raise Conflict("address_required", "邮寄需要收货地址，请先在实名信息中填写住址")
    if not in_area(resident.address, rules.delivery.area):
        raise Conflict("outside_delivery_area",
                       "邮寄仅限" + "、".join(rules.delivery.area) + "，请选择药店领取")
    return resident


def order_of_booking(session: Session, booking_id: int) -> PostalOrder | None:
    """The order made for a booking (a replayed request finds the first one)."""
    return session.scalars(select(PostalOrder)
                           .where(PostalOrder.booking_id == booking_id)).first()


def order_of_entry(session: Session, entry_id: int) -> PostalOrder | None:
    """The order made for a lottery entry (None when it is collected in a store)."""
    return session.scalars(select(PostalOrder)
                           .where(PostalOrder.entry_id == entry_id)).first()


def order_body(order: PostalOrder) -> dict:
    """An order as its holder sees it (address masked elsewhere; here only what they need)."""
    return {"id": order.id, "channel": order.channel, "courier": order.courier,
            "status": order.status, "tracking_no": order.tracking_no,
            "fee_fen": order.fee_fen, "cash_on_delivery": order.cash_on_delivery}
