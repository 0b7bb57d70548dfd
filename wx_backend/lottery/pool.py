"""Lottery campaigns (the ``fuzhou`` preset): entries in a pool, draws anyone can verify.

- ``enter``: a resident with a complete profile enters at any time and gets an 8-digit
  reservation number (the campaign's keyed permutation, as bookings); one live entry per
  person and campaign (a partial unique index); a winner may enter again
  ``reenter_after_days`` after winning.
- ``commit_draw``: the pool's reservation numbers as they are now, the quota (set from the
  supply) and a fresh secret become a commitment (``wx_backend.lottery.draw``), to be published
  before the draw; entries made after it wait for the next draw.
- ``run_draw``: with the public value chosen at the draw, the committed entries are
  ranked; the first ``quota`` win and must claim within ``claim_hours``; everyone else
  stays in the pool for the next draw without entering again.
- ``claim``: a winner orders the portion, with the phone and address of their verified
  profile (no other), delivered (``express``) or to a collection point.
- ``import_special_group``: a list of ID numbers (for example low-income residents); when
  the rules say so (``lottery.special_groups_free``), a member who enters wins a free
  portion at once, outside the draw and its quota.
- ``lapse``: wins not claimed by their deadline lapse; each lapsed unit is added to the
  quota of the next draw committed (``Draw.returned`` of it).
- ``entries_of``: a resident's entries as their pages show them: the draw each took part
  in and its rank there, the ways to claim a win and what each costs, the order with its
  courier and tracking, when the person may enter again, and for a queue registration its
  pharmacy and its place in that pharmacy's queue. ``draw_body``: one draw as published,
  with the resident's own lines of its ranking.

Plain functions over a SQLAlchemy session; the caller commits.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wx_backend.booking import postal
from wx_backend.booking.first_come import check_area, resident_booker
from wx_backend.booking.households import in_area
from wx_backend.campaigns import reservation
from wx_backend.campaigns.manage import get_campaign, rules_in_force
from wx_backend.campaigns.rules import Rules
from wx_backend.core.errors import Conflict, InvalidInput, NotFound
from wx_backend.core.pii import INDEX_ID_NUMBER
from wx_backend.identity.residents import normalise_id_number
from wx_backend.lottery import draw as verifiable
from wx_backend.models import (
    Campaign,
    Draw,
    DrawRank,
    Entry,
    Resident,
    SpecialGroupMember,
    Store,
)
from wx_backend.models.lottery import LIVE_STATUSES
from wx_backend.waitlist import registrations


def _lottery_rules(session: Session, campaign_id: int, now: datetime) -> tuple[int, Rules]:
    version, rules = rules_in_force(session, campaign_id, now)
    if rules.lottery is None:
        raise Conflict("not_a_lottery", "本活动不是摇号活动，请直接预约")
    return version, rules


def enter(session: Session, campaign_id: int, resident_id: int, now: datetime,
          vault=None, store_id: int | None = None) -> Entry:
    """A new entry in the campaign's pool — or, in a queue campaign, a registration for the
    pharmacy ``store_id`` awaiting the committee's check — or Conflict saying why not.

    "One per person" means one per household when the rules limit per household (then
    ``vault`` makes the household key from the address).
    """
    campaign = get_campaign(session, campaign_id)
    version, rules = rules_in_force(session, campaign_id, now)
    if rules.lottery is None and rules.queue is None:
        raise Conflict("not_a_lottery", "本活动不是摇号或排队登记活动，请直接预约")
    closes = rules.lottery.entries_until if rules.lottery else None
    if closes is not None and now >= closes:
        raise Conflict("entries_closed",
                       f"登记已于{closes.astimezone(rules.zone):%m月%d日%H:%M}截止",
                       closed_at=closes.isoformat())
    status = "pooled"
    if rules.queue is not None:
        status = "pending"
        if store_id is None:
            raise Conflict("store_required", "排队登记须选择药店", fields={"store_id": "必填"})
        store = session.get(Store, store_id)
        if store is None or store.campaign_id != campaign_id or not store.active:
            raise NotFound("store_not_found", "请选择本活动的药店",
                           fields={"store_id": "药店不存在"})
    else:
        store_id = None
    person = resident_booker(session, resident_id, rules, vault).person_key
    check_area(session, rules, resident_id)
    if rules.queue is not None and not session.get(Resident, resident_id).district_code:
        # The committee of the district checks each registration, found by its code.
        raise Conflict("profile_incomplete", "排队登记由所在区的居委会审核，"
                       "请先在实名信息中选择住址所在的区")
    live = session.scalars(select(Entry).where(
        Entry.campaign_id == campaign_id, Entry.person_key == person,
        Entry.status.in_(LIVE_STATUSES))).first()
    if live is not None:
        raise Conflict("already_entered", f"您（或同一地址的家庭）已登记，摇号编号 "
                       f"{live.reservation_no}，无需重复登记",
                       reservation_no=live.reservation_no)
    last_win = session.scalar(select(func.max(Entry.won_at)).where(
        Entry.campaign_id == campaign_id, Entry.person_key == person,
        Entry.won_at.is_not(None)))
    wait = timedelta(days=rules.lottery.reenter_after_days if rules.lottery else 0)
    if last_win is not None and now < last_win + wait:
        until = (last_win + wait).astimezone(rules.zone)
        raise Conflict("reenter_later",
                       f"中签后{rules.lottery.reenter_after_days}天内不能再次登记，"
                       f"请于{until:%m月%d日%H:%M}后再来", reenter_at=until.isoformat())
    group = None
    if rules.lottery is not None and rules.lottery.special_groups_free:
        resident = session.get(Resident, resident_id)
        group = session.scalar(select(SpecialGroupMember.group_name).where(
            SpecialGroupMember.campaign_id == campaign_id,
            SpecialGroupMember.id_number_index == resident.id_number_index))
    entry_id = session.scalar(text("SELECT nextval(pg_get_serial_sequence('entries', 'id'))"))
    entry = Entry(id=entry_id, campaign_id=campaign.id, resident_id=resident_id,
                  person_key=person, status=status, rules_version=version, store_id=store_id,
                  reservation_no=reservation.reservation_number(campaign.reservation_key,
                                                                entry_id),
                  created_at=now)
    if group is not None:
        entry.status = "won"
        entry.special_group = group
        entry.won_at = now
        entry.claim_deadline = now + timedelta(hours=rules.lottery.claim_hours)
    session.add(entry)
    try:
        session.flush()
    except IntegrityError:
        # The same person entering twice at once: the partial unique index let one in.
        session.rollback()
        raise Conflict("already_entered", "您已登记，无需重复登记") from None
    return entry


def import_special_group(session: Session, vault, campaign_id: int, group: str,
                         text_csv: str) -> tuple[int, list[str]]:
    """Add the ID numbers of CSV ``text_csv`` (column ``id_number``) to ``group`` for the
    campaign; all or nothing. Answers (members added, errors by line)."""
    get_campaign(session, campaign_id)
    group = (group or "").strip()
    if not 1 <= len(group) <= 40:
        return 0, ["群体名称应为1到40个字"]
    reader = csv.DictReader(io.StringIO(text_csv.lstrip("\ufeff")))
    if "id_number" not in (reader.fieldnames or []):
        return 0, ["表头缺少列：id_number（身份证号）"]
    indexes, errors = set(), []
    for line, row in enumerate(reader, start=2):
        try:
            number = normalise_id_number((row.get("id_number") or "").strip())
        except InvalidInput as error:
            errors.append(f"第{line}行：{error.message}")
            continue
        indexes.add(vault.blind_index(number, INDEX_ID_NUMBER))
    if errors or not indexes:
        return 0, errors or ["文件里没有身份证号"]
    added = session.execute(
        insert(SpecialGroupMember).values([
            {"campaign_id": campaign_id, "id_number_index": index, "group_name": group}
            for index in sorted(indexes)]).on_conflict_do_nothing()
        .returning(SpecialGroupMember.id_number_index)).all()
    return len(added), []


def entry_body(entry: Entry, campaign: Campaign | None = None) -> dict:
    """An entry as its holder sees it."""
    return {"id": entry.id, "campaign_id": entry.campaign_id,
            "campaign": campaign.name if campaign else None,
            "reservation_no": entry.reservation_no, "status": entry.status,
            "draw_id": entry.draw_id, "fulfilment": entry.fulfilment,
            "store_id": entry.store_id, "reject_reason": entry.reject_reason,
            "special_group": entry.special_group,
            "voucher_code": entry.voucher_code if entry.status == "released" else None,
            "claim_deadline": entry.claim_deadline.isoformat() if entry.claim_deadline else None,
            "created_at": entry.created_at.isoformat()}


def commit_draw(session: Session, campaign_id: int, quota: int, now: datetime) -> Draw:
    """Commit to the pool as it is now for a draw of ``quota`` winners."""
    _lottery_rules(session, campaign_id, now)
    if isinstance(quota, bool) or not isinstance(quota, int) or quota < 0:
        raise InvalidInput("invalid_quota", "中签名额应为不小于0的整数",
                           fields={"quota": "格式不正确"})
    pending = session.scalar(select(Draw.id).where(Draw.campaign_id == campaign_id,
                                                   Draw.status == "committed"))
    if pending is not None:
        raise Conflict("draw_pending", f"第 {pending} 号摇号已公示承诺但尚未开奖")
    numbers = session.scalars(select(Entry.reservation_no).where(
        Entry.campaign_id == campaign_id, Entry.status == "pooled")).all()
    if not numbers:
        raise Conflict("pool_empty", "奖池中没有登记，无法摇号")
    returned = session.scalars(select(Entry.id).where(
        Entry.campaign_id == campaign_id, Entry.status == "lapsed",
        Entry.returned_to_draw_id.is_(None)).with_for_update()).all()
    number = (session.scalar(select(func.max(Draw.number))
                             .where(Draw.campaign_id == campaign_id)) or 0) + 1
    campaign = session.get(Campaign, campaign_id)
    entries = verifiable.entries_text(numbers)
    secret = verifiable.new_secret()
    total = quota + len(returned)
    commitment = verifiable.commit(f"{campaign.name} 第{number}期", entries, total, secret,
                                   now.isoformat(timespec="seconds"))
    made = Draw(campaign_id=campaign_id, number=number, quota=total, returned=len(returned),
                status="committed", entries_text=entries, commitment=commitment.as_json(),
                secret=secret.hex(), committed_at=now)
    session.add(made)
    session.flush()
    if returned:
        session.execute(update(Entry).where(Entry.id.in_(returned))
                        .values(returned_to_draw_id=made.id))
    return made


def run_draw(session: Session, draw_id: int, public_value: str, now: datetime) -> list[str]:
    """Draw a committed draw with ``public_value``; marks and answers the winners."""
    found = session.scalars(select(Draw).where(Draw.id == draw_id).with_for_update()).first()
    if found is None:
        raise NotFound("draw_not_found", f"摇号 {draw_id} 不存在")
    if found.status != "committed":
        raise Conflict("draw_done", "该期摇号已开奖")
    _, rules = _lottery_rules(session, found.campaign_id, now)
    try:
        result = verifiable.draw(verifiable.load_commitment(found.commitment),
                                 found.entries_text, bytes.fromhex(found.secret), public_value)
    except verifiable.DrawError as error:
        raise InvalidInput("invalid_public_value", str(error),
                           fields={"public_value": str(error)}) from None
    found.status = "drawn"
    found.public_value = result.public_value
    found.result = result.as_json()
    found.drawn_at = now
    # Every line of ranking.csv, kept as rows: a resident's rank is then read, not
    # recomputed over the whole pool (two seconds a million entries) at each look.
    session.execute(text(
        "INSERT INTO draw_ranks (draw_id, reservation_no, rank) "
        "SELECT :draw, number, position FROM unnest(CAST(:numbers AS varchar[])) "
        "WITH ORDINALITY AS ranked(number, position)"),
        {"draw": found.id, "numbers": [number for number, _ in result.ranking]})
    winners = result.winners
    if winners:
        session.execute(update(Entry).where(
            Entry.campaign_id == found.campaign_id, Entry.reservation_no.in_(winners),
            Entry.status == "pooled").values(
            status="won", draw_id=found.id, won_at=now,
            claim_deadline=now + timedelta(hours=rules.lottery.claim_hours)))
    session.flush()
    return winners


def winning_entries(session: Session, draw_id: int) -> list[int]:
    """The ids of a draw's winning entries (for their notifications)."""
    return list(session.scalars(select(Entry.id).where(Entry.draw_id == draw_id)))


def own_entry(session: Session, resident_id: int, entry_id: int) -> Entry:
    """The resident's own entry, locked, or NotFound (also for others' entries)."""
    found = session.scalars(select(Entry).where(Entry.id == entry_id,
                                                Entry.resident_id == resident_id)
                            .with_for_update()).first()
    if found is None:
        raise NotFound("entry_not_found", "登记记录不存在")
    return found


def claim(session: Session, entry: Entry, fulfilment: str, now: datetime,
          store_id: int | None = None) -> Entry:
    """The winner orders their portion within the deadline, to their profile's address
    (or to the collection point ``store_id``); the delivery order is made with it."""
    _, rules = _lottery_rules(session, entry.campaign_id, now)
    if entry.status == "claimed":
        raise Conflict("already_claimed", "已下单，请勿重复提交")
    if entry.status != "won":
        raise Conflict("not_won", "该登记未中签，不能下单")
    if now > entry.claim_deadline:
        raise Conflict("claim_expired", "已超过下单期限，名额已退回下一期摇号")
    if fulfilment not in rules.fulfilment:
        raise Conflict("fulfilment_unavailable",
                       "本活动的领取方式为：" + "、".join(rules.fulfilment),
                       fields={"fulfilment": "不在本活动的领取方式中"})
    resident = session.get(Resident, entry.resident_id)
    if fulfilment != "pickup" and not resident.address:
        raise Conflict("address_required",
                       "请先在实名信息中填写收货地址（与登记时相同的手机号和地址）")
    if fulfilment != "pickup":
        postal.order_for(session, rules, entry.campaign_id, resident, entry.reservation_no,
                           fulfilment, store_id=store_id, entry_id=entry.id,
                           free=entry.special_group is not None)
    entry.status = "claimed"
    entry.claimed_at = now
    entry.fulfilment = fulfilment
    session.flush()
    return entry


def lapse(session: Session, now: datetime) -> list[int]:
    """Wins and queue vouchers past their deadline lapse; answers the lapsed entries' ids."""
    return list(session.execute(
        update(Entry).where(Entry.status.in_(("won", "released")),
                            Entry.claim_deadline <= now)
        .values(status="lapsed", lapsed_at=now).returning(Entry.id)).scalars())


def published_files(found: Draw) -> dict[str, bytes]:
    """The draw's public files: the commitment ones, and the result ones once drawn."""
    files = {"entries.txt": found.entries_text, "commitment.json": found.commitment}
    if found.status == "drawn":
        commitment = verifiable.load_commitment(found.commitment)
        secret = bytes.fromhex(found.secret)
        seed = verifiable.seed_for(secret, commitment, found.public_value)
        result = verifiable.Result(commitment, found.public_value, secret, seed,
                                   verifiable.rank(seed, verifiable.parse_entries(
                                       found.entries_text)))
        files["result.json"] = found.result
        files["ranking.csv"] = result.ranking_csv()
    return files


def rank_in(session: Session, draw_id: int, reservation_no: str) -> int | None:
    """The rank of ``reservation_no`` in a drawn draw (its line of ``ranking.csv``), or
    None when it was not among the draw's entries."""
    return session.scalar(select(DrawRank.rank).where(DrawRank.draw_id == draw_id,
                                                      DrawRank.reservation_no == reservation_no))


def place_body(store: Store) -> dict:
    """A pharmacy or collection point as a resident is told where to go."""
    return {"id": store.id, "name": store.name, "address": store.address,
            "district": store.district, "opening_hours": store.opening_hours}


def claim_options(rules: Rules, resident: Resident, entry: Entry) -> list[dict]:
    """The ways the campaign lets a win be claimed, each with what delivery costs and
    whether it can be chosen by this resident (home delivery needs an address in the area)."""
    options = []
    for fulfilment in rules.fulfilment:
        option = {"fulfilment": fulfilment, "fee_fen": 0, "cash_on_delivery": False,
                  "courier": None, "available": True, "reason": None}
        if fulfilment in ("express", "postal"):
            settings = rules.delivery
            postal_fee = settings.postal_fee_fen if entry.special_group is None else 0
            option["fee_fen"] = postal_fee if fulfilment == "postal" else 0
            option["cash_on_delivery"] = option["fee_fen"] > 0
            option["courier"] = (settings.postal_courier if fulfilment == "postal"
                                 else settings.express_courier)
            if not resident.address:
                option.update(available=False, reason="请先在实名信息中填写收货地址")
            elif not in_area(resident.address, settings.area):
                option.update(available=False, reason="您的地址不在配送范围（"
                              + "、".join(settings.area) + "）")
        options.append(option)
    return options


def _order_of(session: Session, entry: Entry) -> dict | None:
    order = postal.order_of_entry(session, entry.id)
    if order is None:
        return None
    body = postal.order_body(order)
    point = session.get(Store, order.store_id) if order.store_id else None
    body["collection_point"] = place_body(point) if point else None
    body["updated_at"] = order.updated_at.isoformat()
    return body


def _draw_of(session: Session, entry: Entry) -> dict | None:
    """The draw an entry won in, or else the latest one it took part in (every draw
    committed while it lay in the pool), with its rank there once drawn."""
    if entry.draw_id is not None:
        found = session.get(Draw, entry.draw_id)
    elif entry.status == "pooled":
        found = session.scalars(select(Draw).where(
            Draw.campaign_id == entry.campaign_id, Draw.committed_at >= entry.created_at)
            .order_by(Draw.number.desc()).limit(1)).first()
    else:
        return None
    if found is None:
        return None
    rank = rank_in(session, found.id, entry.reservation_no) if found.status == "drawn" else None
    return {"id": found.id, "number": found.number, "status": found.status,
            "quota": found.quota, "drawn_at": found.drawn_at.isoformat() if found.drawn_at
            else None, "rank": rank}


def entries_of(session: Session, resident_id: int, now: datetime,
               entry_id: int | None = None) -> list[dict]:
    """The resident's entries (or the one ``entry_id``), newest first, each as
    ``entry_body`` with what the resident's pages show about it: ``draw``, ``order``,
    ``claim_options`` (while won), ``reenter_at`` (after a win: when the person may enter
    again), and for a queue registration its ``pharmacy`` and ``queue`` standing."""
    query = (select(Entry, Campaign).join(Campaign, Campaign.id == Entry.campaign_id)
             .where(Entry.resident_id == resident_id))
    if entry_id is not None:
        query = query.where(Entry.id == entry_id)
    rows = session.execute(query.order_by(Entry.id.desc()).limit(100)).all()
    resident = session.get(Resident, resident_id)
    rules_of: dict[int, Rules] = {}
    bodies = []
    for entry, campaign in rows:
        if campaign.id not in rules_of:
            rules_of[campaign.id] = rules_in_force(session, campaign.id, now)[1]
        rules = rules_of[campaign.id]
        body = entry_body(entry, campaign)
        body.update(draw=None, order=None, claim_options=[], reenter_at=None, pharmacy=None,
                    queue=None, released_at=None, redeemed_at=None)
        if entry.store_id is not None:
            body["pharmacy"] = place_body(session.get(Store, entry.store_id))
            body["queue"] = registrations.standing(session, entry)
            body["released_at"] = entry.released_at.isoformat() if entry.released_at else None
            body["redeemed_at"] = entry.redeemed_at.isoformat() if entry.redeemed_at else None
        else:
            body["draw"] = _draw_of(session, entry)
            body["order"] = _order_of(session, entry)
            if entry.status == "won":
                body["claim_options"] = claim_options(rules, resident, entry)
            if entry.won_at is not None and rules.lottery is not None:
                body["reenter_at"] = (entry.won_at + timedelta(
                    days=rules.lottery.reenter_after_days)).isoformat()
        bodies.append(body)
    return bodies


def draw_body(session: Session, draw_id: int, resident_id: int) -> dict:
    """A draw as published (its commitment, and once drawn the public value and result),
    with the resident's own lines of its ranking: each of their entries that took part,
    its rank and score, and whether it won."""
    found = session.get(Draw, draw_id)
    if found is None:
        raise NotFound("draw_not_found", "该期摇号不存在")
    campaign = session.get(Campaign, found.campaign_id)
    commitment = verifiable.load_commitment(found.commitment)
    result = json.loads(found.result) if found.result else None
    numbers = session.scalars(select(Entry.reservation_no).where(
        Entry.campaign_id == found.campaign_id, Entry.resident_id == resident_id)
        .order_by(Entry.id)).all()
    entries = b"\n" + found.entries_text
    mine = []
    for number in numbers:
        if f"\n{number}\n".encode("ascii") not in entries:
            continue
        line = {"reservation_no": number, "rank": None, "won": None, "score": None}
        if result is not None:
            rank = rank_in(session, found.id, number)
            score = verifiable.rank(bytes.fromhex(result["seed"]), [number])[0][1]
            line.update(rank=rank, won=rank is not None and rank <= found.quota,
                        score=score.hex())
        mine.append(line)
    return {"id": found.id, "number": found.number, "campaign_id": found.campaign_id,
            "campaign": campaign.name, "name": commitment.name, "status": found.status,
            "committed_at": found.committed_at.isoformat(),
            "drawn_at": found.drawn_at.isoformat() if found.drawn_at else None,
            "entries_count": commitment.entries_count, "quota": found.quota,
            "returned": found.returned, "commitment_sha256": commitment.digest,
            "entries_sha256": commitment.entries_sha256,
            "secret_sha256": commitment.secret_sha256,
            "public_value": result["public_value"] if result else None,
            "seed": result["seed"] if result else None,
            "winners_count": len(result["winners"]) if result else None,
            "mine": mine}
