"""Campaign rules: what a rules version says, parsed and checked from plain data.

A preset (``wx_backend/campaigns/presets/<name>.toml``) is such data; an operator copies
one, edits it and creates a campaign from it. The same shape is stored as JSON in
``rules_versions``.

Times of day are in the campaign's time zone. A booking made in a window that opens on day
D blocks the same person from ``cooldown_days`` days: from D 00:00 to (D + cooldown_days)
00:00; with ``cooldown_days = 0`` the block is the window itself (one booking per window).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wx_backend.core import regions

ALLOCATIONS = ("fcfs", "lottery", "queue")
FULFILMENTS = ("pickup", "postal", "express", "collection_point")
PRESETS = ("zhengzhou", "qingdao", "guangzhou", "fuzhou", "shanghai")


class RulesError(ValueError):
    """The rules are not acceptable; the message names the setting."""


@dataclass(frozen=True)
class DailyWindow:
    """A window that opens every day at ``opens`` and closes at ``closes``."""

    opens: time
    closes: time
    quota: int


@dataclass(frozen=True)
class FixedWindow:
    """A window with explicit start and end."""

    opens_at: datetime
    closes_at: datetime
    quota: int


@dataclass(frozen=True)
class PickupSlot:
    starts: time
    ends: time


@dataclass(frozen=True)
class LotterySettings:
    """How a lottery campaign draws: every ``draw_every_days`` days; a winner has
    ``claim_hours`` to claim; a winner may enter again ``reenter_after_days`` after winning."""

    draw_every_days: int = 2
    claim_hours: int = 48
    reenter_after_days: int = 0
    # Scheduled draws (none when 0): commit at ``commit_at`` on every ``draw_every_days``-th
    # day with this quota, draw ``draw_after_minutes`` later with the beacon's value.
    quota_per_draw: int = 0
    commit_at: time = time(10, 0)
    draw_after_minutes: int = 60
    # Members of imported special groups win a free portion when they enter, outside the
    # draw and its quota.
    special_groups_free: bool = False
    # Entries are refused from this moment on (the campaign's last draw); None: always open.
    entries_until: datetime | None = None


@dataclass(frozen=True)
class QueueSettings:
    """A queue campaign: a released resident's voucher is good for ``voucher_days`` days."""

    voucher_days: int = 3


@dataclass(frozen=True)
class DeliverySettings:
    """Home delivery: who carries each channel, what post costs (paid on delivery), and
    where it goes (``area`` empty: everywhere); outside it only collection points."""

    postal_courier: str = "中国邮政"
    postal_fee_fen: int = 0
    express_courier: str = "快递"
    area: tuple[str, ...] = ()


# Bookings a second one web host (two cores, two workers) answered while stock lasted in
# scripts/bench_booking: 613. A room admits two-thirds of that by default, so admitted
# residents book at once instead of queueing again inside the server.
DEFAULT_ADMIT_PER_SECOND = 400


@dataclass(frozen=True)
class WaitingRoomSettings:
    """A waiting room in front of every window (``booking/waiting_room.py``).

    Residents may join ``joins_from_minutes`` before the opening; those who join until
    ``sort_before_seconds`` before it are put in a random order by the public beacon's next
    round (so each learns their place and their moment before the opening, and the opening
    itself brings no rush of questions), later joiners queue in arrival order after them.
    Positions are admitted at ``admit_per_second`` from the opening; an admission lets its
    holder book for ``admission_seconds``."""

    admit_per_second: int = DEFAULT_ADMIT_PER_SECOND
    joins_from_minutes: int = 30
    admission_seconds: int = 120
    sort_before_seconds: int = 60


@dataclass(frozen=True)
class Rules:
    """One version of a campaign's rules."""

    name: str
    allocation: str
    timezone: str
    store_daily_cap: int
    item: str
    items: int
    unit_price_fen: int
    per: str
    cooldown_days: int
    expired_keeps_cooldown: bool
    windows: tuple[DailyWindow | FixedWindow, ...]
    pickup_day_offset: int
    pickup_slots: tuple[PickupSlot, ...]
    fulfilment: tuple[str, ...] = ("pickup",)
    districts: tuple[str, ...] = ()
    # The city the campaign serves (a GB/T 2260 code): residents choose their district from
    # its districts, and community staff's scopes are compared with that choice.
    city: str | None = None
    delegate_pickup: bool = True
    public_list: bool = True
    lottery: LotterySettings | None = None
    queue: QueueSettings | None = None
    delivery: DeliverySettings = DeliverySettings()
    waiting_room: WaitingRoomSettings | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def spans_on(self, day: date) -> list[tuple[datetime, datetime, int]]:
        """The windows (opens, closes, quota) that open on ``day``, in time order."""
        zone = self.zone
        spans = []
        for window in self.windows:
            if isinstance(window, DailyWindow):
                opens = datetime.combine(day, window.opens, zone)
                closes = datetime.combine(day, window.closes, zone)
                if closes <= opens:
                    closes += timedelta(days=1)
                spans.append((opens, closes, window.quota))
            elif window.opens_at.astimezone(zone).date() == day:
                spans.append((window.opens_at, window.closes_at, window.quota))
        return sorted(spans)

    def pickup_date_for(self, opens_at: datetime) -> date:
        """The day on which a booking made in a window opening at ``opens_at`` is collected."""
        return opens_at.astimezone(self.zone).date() + timedelta(days=self.pickup_day_offset)

    def pickup_span(self, pickup_date: date, slot: int = 0) -> tuple[datetime, datetime]:
        """Start and end of pickup slot ``slot`` on ``pickup_date``."""
        chosen = self.pickup_slots[slot]
        zone = self.zone
        return (datetime.combine(pickup_date, chosen.starts, zone),
                datetime.combine(pickup_date, chosen.ends, zone))

    def cooldown_for(self, opens_at: datetime, closes_at: datetime) -> tuple[datetime, datetime]:
        """The span a success in this window blocks for the same person."""
        if self.cooldown_days == 0:
            return opens_at, closes_at
        day = opens_at.astimezone(self.zone).date()
        start = datetime.combine(day, time(0), self.zone)
        return start, datetime.combine(day + timedelta(days=self.cooldown_days), time(0),
                                       self.zone)

    def summary(self) -> str:
        """The rules in two or three Chinese sentences, as residents are told them."""
        price = self.unit_price_fen / 100
        price_text = f"{price:g}元" if price else "免费"
        openings = "、".join(w.opens.strftime("%H:%M") for w in self.windows
                            if isinstance(w, DailyWindow))
        if self.queue is not None:
            return (f"按户登记排队，每户{self.item}一份{self.items}只，每只{price_text}；"
                    f"居委会核实地址后按预约号顺序、随药店每日到货依次发放购买凭证，"
                    f"凭证{self.queue.voucher_days}天内有效，凭证和身份证到指定药店购买。")
        if self.lottery is not None:
            draws = self.lottery
            parts = [f"随时登记参加摇号，每{draws.draw_every_days}天摇号一次，"
                     "未中签自动进入下次摇号",
                     f"中签者每人{self.item}一份{self.items}只，每只{price_text}，"
                     f"须在{draws.claim_hours}小时内下单"]
            if draws.reenter_after_days:
                parts.append(f"中签后{draws.reenter_after_days}天内不能再次登记")
            return "；".join(parts) + "。"
        parts = [f"每人每次可预约{self.item}一份{self.items}只，每只{price_text}"]
        if openings:
            parts.append(f"每天{openings}开始预约，约完即止")
        if self.waiting_room is not None:
            room = self.waiting_room
            parts.append(f"开始前{room.joins_from_minutes}分钟可进入排队，"
                         f"开始前{_duration(room.sort_before_seconds)}已在排队的人"
                         "按公开随机数随机排序，"
                         "之后到达的按先后排在后面")
        if self.cooldown_days:
            parts.append(f"预约成功后{self.cooldown_days}天内不能再次预约")
        slots = "或".join(f"{s.starts:%H:%M}-{s.ends:%H:%M}" for s in self.pickup_slots)
        when = {0: "当天", 1: "次日"}.get(self.pickup_day_offset,
                                         f"{self.pickup_day_offset}天后")
        parts.append(f"请于{when}{slots}凭短信和身份证到所选药店购买")
        return "；".join(parts) + "。"


def _duration(seconds: int) -> str:
    return f"{seconds // 60}分钟" if seconds % 60 == 0 and seconds else f"{seconds}秒"


def _clock(value, where: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise RulesError(f"{where} must be a time of day like 09:30, got {value!r}") from None


def _positive_int(value, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RulesError(f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _instant(value, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise RulesError(f"{where} must be an ISO date-time, got {value!r}") from None
    if moment.tzinfo is None:
        raise RulesError(f"{where} needs a UTC offset, for example +08:00")
    return moment


def parse_rules(data: dict) -> Rules:
    """Check rules data and return Rules, or raise RulesError naming the bad setting."""
    if not isinstance(data, dict):
        raise RulesError("rules must be a table of settings")
    try:
        zone = str(data.get("timezone", "Asia/Shanghai"))
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RulesError(f"timezone {data.get('timezone')!r} is unknown") from None
    allocation = data.get("allocation", "fcfs")
    if allocation not in ALLOCATIONS:
        raise RulesError(f"allocation must be one of {', '.join(ALLOCATIONS)}")
    portion = data.get("portion") or {}
    limit = data.get("limit") or {}
    if limit.get("per", "person") not in ("person", "household"):
        raise RulesError("limit.per must be person or household")

    windows: list[DailyWindow | FixedWindow] = []
    for n, spec in enumerate(data.get("windows") or []):
        where = f"windows[{n}]"
        quota = _positive_int(spec.get("quota"), f"{where}.quota")
        if "opens_at" in spec:
            opens_at = _instant(spec["opens_at"], f"{where}.opens_at")
            closes_at = _instant(spec.get("closes_at"), f"{where}.closes_at")
            if closes_at <= opens_at:
                raise RulesError(f"{where} closes before it opens")
            windows.append(FixedWindow(opens_at, closes_at, quota))
        else:
            opens = _clock(spec.get("opens"), f"{where}.opens")
            closes = _clock(spec.get("closes"), f"{where}.closes")
            if opens == closes:
                raise RulesError(f"{where} opens and closes at the same time")
            windows.append(DailyWindow(opens, closes, quota))
    if allocation == "fcfs" and not windows:
        raise RulesError("a first-come-first-served campaign needs at least one window")

    pickup = data.get("pickup") or {}
    slots = []
    for n, spec in enumerate(pickup.get("slots") or [{"starts": "09:00", "ends": "18:00"}]):
        starts = _clock(spec.get("starts"), f"pickup.slots[{n}].starts")
        ends = _clock(spec.get("ends"), f"pickup.slots[{n}].ends")
        if ends <= starts:
            raise RulesError(f"pickup.slots[{n}] ends before it starts")
        slots.append(PickupSlot(starts, ends))
    fulfilment = tuple(data.get("fulfilment") or ("pickup",))
    unknown = set(fulfilment) - set(FULFILMENTS)
    if unknown:
        raise RulesError(f"fulfilment {sorted(unknown)} unknown; known: {', '.join(FULFILMENTS)}")
    lottery = None
    if allocation == "lottery":
        spec = data.get("lottery") or {}
        lottery = LotterySettings(
            draw_every_days=_positive_int(spec.get("draw_every_days", 2),
                                          "lottery.draw_every_days"),
            claim_hours=_positive_int(spec.get("claim_hours", 48), "lottery.claim_hours"),
            reenter_after_days=_positive_int(spec.get("reenter_after_days", 0),
                                             "lottery.reenter_after_days", 0),
            quota_per_draw=_positive_int(spec.get("quota_per_draw", 0),
                                         "lottery.quota_per_draw", 0),
            commit_at=_clock(spec.get("commit_at", "10:00"), "lottery.commit_at"),
            draw_after_minutes=_positive_int(spec.get("draw_after_minutes", 60),
                                             "lottery.draw_after_minutes"),
            special_groups_free=bool(spec.get("special_groups_free", False)),
            entries_until=(_instant(spec["entries_until"], "lottery.entries_until")
                           if spec.get("entries_until") else None))
    queue = None
    if allocation == "queue":
        spec = data.get("queue") or {}
        queue = QueueSettings(voucher_days=_positive_int(spec.get("voucher_days", 3),
                                                         "queue.voucher_days"))
    spec = data.get("delivery") or {}
    area = spec.get("area") or []
    if not all(isinstance(a, str) and a.strip() for a in area):
        raise RulesError("delivery.area must be a list of district or street names")
    delivery = DeliverySettings(
        postal_courier=str(spec.get("postal_courier") or "中国邮政")[:40],
        postal_fee_fen=_positive_int(spec.get("postal_fee_fen", 0), "delivery.postal_fee_fen", 0),
        express_courier=str(spec.get("express_courier") or "快递")[:40],
        area=tuple(a.strip() for a in area))
    waiting_room = _waiting_room(data.get("waiting_room"), allocation)
    districts = data.get("eligibility", {}).get("districts") or []
    if not all(isinstance(d, str) and d.strip() for d in districts):
        raise RulesError("eligibility.districts must be a list of district names")
    city = data.get("city")
    if city is not None:
        found = regions.region(str(city))
        if found is None or found.level == "district" or not regions.districts_in(found.code):
            raise RulesError("city must be the GB/T 2260 code of a city or municipality "
                             f"in use (郑州市 is 410100, 上海市 310000), got {city!r}")

    return Rules(
        name=str(data.get("name") or "口罩预约"),
        allocation=allocation,
        timezone=zone,
        store_daily_cap=_positive_int(data.get("store_daily_cap"), "store_daily_cap"),
        item=str(portion.get("item") or "口罩"),
        items=_positive_int(portion.get("items"), "portion.items"),
        unit_price_fen=_positive_int(portion.get("unit_price_fen", 0),
                                     "portion.unit_price_fen", 0),
        per=limit.get("per", "person"),
        cooldown_days=_positive_int(limit.get("cooldown_days", 0), "limit.cooldown_days", 0),
        expired_keeps_cooldown=bool(limit.get("expired_keeps_cooldown", True)),
        windows=tuple(windows),
        pickup_day_offset=_positive_int(pickup.get("day_offset", 1), "pickup.day_offset", 0),
        pickup_slots=tuple(slots),
        fulfilment=fulfilment,
        districts=tuple(d.strip() for d in districts),
        city=None if city is None else str(city),
        delegate_pickup=bool(data.get("delegate_pickup", True)),
        public_list=bool(data.get("public_list", True)),
        lottery=lottery,
        queue=queue,
        delivery=delivery,
        waiting_room=waiting_room,
        raw=data,
    )


def _waiting_room(spec, allocation: str) -> WaitingRoomSettings | None:
    """``[waiting_room]`` with ``enabled = true``: the settings; otherwise None."""
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise RulesError("waiting_room must be a table of settings")
    if not spec.get("enabled", False):
        return None
    if allocation != "fcfs":
        raise RulesError("waiting_room is for first-come-first-served campaigns only")
    settings = WaitingRoomSettings(
        admit_per_second=_positive_int(spec.get("admit_per_second", DEFAULT_ADMIT_PER_SECOND),
                                       "waiting_room.admit_per_second"),
        joins_from_minutes=_positive_int(spec.get("joins_from_minutes", 30),
                                         "waiting_room.joins_from_minutes"),
        admission_seconds=_positive_int(spec.get("admission_seconds", 120),
                                        "waiting_room.admission_seconds", 10),
        sort_before_seconds=_positive_int(spec.get("sort_before_seconds", 60),
                                          "waiting_room.sort_before_seconds", 0))
    if settings.sort_before_seconds > settings.joins_from_minutes * 60:
        raise RulesError("waiting_room.sort_before_seconds must fall after the room opens "
                         "for joining")
    return settings


def load_preset(name: str) -> dict:
    """The rules data of a shipped preset."""
    if name not in PRESETS:
        raise RulesError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    presets = resources.files("wx_backend.campaigns.presets")
    text = presets.joinpath(f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def load_rules_file(path: str) -> dict:
    """Rules data from an operator's TOML file (a copied and edited preset)."""
    with open(path, "rb") as handle:
        try:
            return tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise RulesError(f"{path}: {error}") from None


def jsonable(data: dict) -> dict:
    """Rules data with datetimes as ISO strings, ready for a JSONB column."""
    def convert(value):
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, (datetime, date, time)):
            return value.isoformat()
        return value
    return convert(data)
