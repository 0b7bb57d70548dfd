"""The mini-program's own suite (jest + miniprogram-simulate, in miniprogram/test/), run
against the real backend: this app on a real HTTP server with PostgreSQL, Redis, the fake
WeChat API, the fake randomness beacon and the SMS outbox, as every other test here runs
it.

The suite runs in two parts because a draw and a committee's review happen between them,
on the operators' side: first the compile check, the units, a resident's first booking
from silent login to QR, the failure paths, a lottery entry and a queue registration; then,
after the draw and the review here, the lottery claim and the queue voucher; last the
waiting room, whose window opens while its part runs. What the pages showed is written to
a file and checked against the rows and the outbox.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from tests.browsers import CHINESE, CHROMIUM
from tests.worlds import approve_rules, auth, build, now
from tests.worlds import residents as people_of
from wx_backend.booking import waiting_room
from wx_backend.campaigns.rules import load_preset
from wx_backend.dev import people
from wx_backend.dev.fakes.wechat_api import openid_for
from wx_backend.extensions import db
from wx_backend.identity.accounts import (
    create_community_staff,
    create_editor,
    create_staff,
)
from wx_backend.lottery import pool
from wx_backend.models import (
    Booking,
    CommunityStaff,
    Entry,
    OutboxSms,
    Resident,
    Staff,
)
from wx_backend.waitlist import registrations

MINIPROGRAM = Path(__file__).resolve().parent.parent / "miniprogram"
SCREENS = MINIPROGRAM / "test-output" / "screens"
PASSWORD = "a long enough password"


def _npm_ready() -> None:
    """``npm ci`` from the lockfile when node_modules is missing or older than the lock."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: the mini-program's tests need Node 20 and npm")
    lock = (MINIPROGRAM / "package-lock.json").read_bytes()
    stamp = MINIPROGRAM / "node_modules" / ".wxb-lock"
    want = hashlib.sha256(lock).hexdigest()
    if stamp.exists() and stamp.read_text() == want:
        return
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=MINIPROGRAM,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    stamp.write_text(want)


def _jest(files: list[str], context: Path) -> str:
    env = {**os.environ, "WXB_E2E": str(context), "CI": "true"}
    done = subprocess.run(["npx", "jest", "--colors=false", *files], cwd=MINIPROGRAM, env=env,
                          capture_output=True, text=True, timeout=900)
    (context.parent / "jest.log").write_text(done.stdout + done.stderr)
    report = done.stdout[-6000:] + done.stderr[-12000:]
    assert done.returncode == 0, report
    return report


def _screenshots(pattern: str = "*.html") -> list[Path]:
    """PNGs of the pages the suite saved (each also saved in care mode, switched on through
    the page itself: ``<name>-large``), in Debian's Chromium at a phone's 750 rpx width
    (2x a 375-point screen), for people to look at; none may be wider than the screen.
    ``pattern`` picks the saved pages of one module (another module's stay as they are)."""
    from playwright.sync_api import sync_playwright

    made, too_wide = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, **CHINESE)
        page = browser.new_page(viewport={"width": 750, "height": 1334})
        for html in sorted(SCREENS.glob(pattern)):
            page.goto(html.as_uri())
            if page.evaluate("document.documentElement.scrollWidth") > 750:
                too_wide.append(html.stem)
            png = html.with_suffix(".png")
            page.screenshot(path=str(png), full_page=True)
            made.append(png)
        browser.close()
    assert too_wide == [], f"wider than the phone's screen: {too_wide}"
    return made


def _person(n: int) -> dict:
    number = 8_100 + n
    kind, id_number = people.document(number)
    return {"name": people.name(number), "id_number": id_number, "id_kind": kind,
            "phone": people.phone(number)}


@pytest.fixture
def context(app, client, residents, live_server, tmp_path):
    """Campaigns, accounts and residents the mini-program's tests use, as a JSON file."""
    fcfs = build(app, "zhengzhou", caps=(100, 100, 100))
    sold_out = build(app, "qingdao", quota=1, caps=(5, 5))
    changing = build(app, "zhengzhou")
    lottery = build(app, "fuzhou", open_now=False)
    queue_rules = load_preset("shanghai")
    queue = build(app, "shanghai", open_now=False, rules=queue_rules)

    verified = {}
    for n, who in enumerate(["mp-net", "mp-busy", "mp-full", "mp-rules", "mp-relogin",
                             "mp-first", "mp-room-early", "mp-room-late"]):
        person = _person(n)
        verified[who] = {**person, "token": residents.verified(
            who, person["id_number"], person["phone"], name=person["name"])}
    # The one who empties the sold-out window before the resident in the test arrives.
    first = client.post(f"/api/v1/campaigns/{sold_out.campaign_id}/bookings",
                        json={"store_id": sold_out.store_ids[0]},
                        headers=auth(verified["mp-first"]["token"]))
    assert first.status_code == 201, first.json
    # A Fuzhou entrant (a claim is sent to, or collected for, a known address) and a
    # Shanghai household (the address and promise the per-household queue needs).
    for who, n, extra in (("mp-lottery", 19, {"address": "福州市鼓楼区五四路100号3栋2单元201",
                                              "district_code": "350102"}),
                          ("mp-queue", 20, {"address": "上海市浦东新区花木路101弄3号1201室",
                                            "district_code": "310115", "promise": True})):
        person = _person(n)
        token = residents.login(who)
        answer = residents.put_profile(
            token, name=person["name"], id_number=person["id_number"], phone=person["phone"],
            sms_code=residents.code_for(token, person["phone"]), **extra)
        assert answer.status_code == 200, answer.json

    with app.app_context():
        create_editor(db.session, "mp.editor", PASSWORD)
        create_community_staff(db.session, "mp.huamu", PASSWORD, "310115")
        create_staff(db.session, "mp.pharmacist", PASSWORD, queue.store_ids[0])
        db.session.commit()
    editor = client.post("/api/v1/admin/login",
                         json={"username": "mp.editor", "password": PASSWORD}).json["token"]
    # The rules change the suite publishes while a resident looks at the campaign: drafted
    # by the editor and approved by an operator (their console page's call) beforehand.
    change = client.post("/api/v1/admin/announcements", headers=auth(editor), json={
        "title": "预约规则调整", "body": "即日起每人每次5只，14天内不能再次预约。",
        "campaign_id": changing.campaign_id,
        "rules": {"limit": {"cooldown_days": 14}, "portion": {"items": 5}}})
    assert change.status_code == 201, change.json
    approve_rules(app, change.json["id"])
    path = tmp_path / "context.json"
    path.write_text(json.dumps({
        "base_url": live_server,
        "results": str(tmp_path / "results"),
        "fcfs": {"campaign_id": fcfs.campaign_id, "store_ids": fcfs.store_ids},
        "sold_out": {"campaign_id": sold_out.campaign_id, "store_id": sold_out.store_ids[0]},
        "changing": {"campaign_id": changing.campaign_id, "store_id": changing.store_ids[0],
                     "announcement_id": change.json["id"]},
        "lottery": {"campaign_id": lottery.campaign_id},
        "queue": {"campaign_id": queue.campaign_id, "store_id": queue.store_ids[0]},
        "editor_token": editor,
        "newcomer": {**_person(30), "address": "郑州市金水区花园路12号院3号楼2单元501"},
        "household": {**_person(31), "address": "上海市浦东新区花木路200弄6号302室",
                      "district": "浦东新区"},
        "verified": {who: {k: v for k, v in p.items() if k != "token"}
                     for who, p in verified.items()},
    }, ensure_ascii=False))
    (tmp_path / "results").mkdir()
    return path


def _results(context: Path) -> dict:
    folder = Path(json.loads(context.read_text())["results"])
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def test_the_mini_program_against_the_real_backend(app, context):
    _npm_ready()
    shutil.rmtree(SCREENS, ignore_errors=True)
    _jest(["test/compile.test.js", "test/units.test.js", "test/booking.test.js",
           "test/failures.test.js", "test/enter.test.js"], context)
    shown = _results(context)
    settings = json.loads(context.read_text())

    with app.app_context():
        # The first booking: what the pages showed is what the database holds.
        booked = shown["booking"]
        row = db.session.get(Booking, booked["id"])
        assert (row.reservation_no, row.pickup_code) == (booked["reservation_no"],
                                                         booked["pickup_code"])
        holder = db.session.get(Resident, row.resident_id)
        assert holder.phone == settings["newcomer"]["phone"]
        sent = db.session.scalars(select(OutboxSms).where(
            OutboxSms.template == "verification_code")).all()
        assert any(booked["sms_code"] in sms.text for sms in sent)
        # A network error and a `busy` retried with the same key: one booking each.
        for who, key in (("mp-net", "network"), ("mp-busy", "busy"), ("mp-rules", "rules"),
                         ("mp-relogin", "relogin")):
            booking_id = shown["failures"][key]["id"]
            mine = db.session.get(Booking, booking_id)
            count = db.session.scalar(select(db.func.count()).select_from(Booking).where(
                Booking.resident_id == mine.resident_id))
            assert count == 1, who
        full = settings["sold_out"]["campaign_id"]
        assert db.session.scalar(select(db.func.count()).select_from(Booking).where(
            Booking.campaign_id == full)) == 1

        # The operators' side between the two parts: a draw, a review and the day's supply.
        entered = shown["enter"]
        # The household's district is the code chosen from the list, not read from the text.
        household = db.session.scalars(select(Resident).where(Resident.openid == openid_for(
            app.config["WECHAT_MINIPROGRAM_APPID"], "mp-household"))).one()
        assert household.district_code == entered["household"]["district_code"] == "310115"
        lottery_entry = db.session.get(Entry, entered["lottery"]["id"])
        assert lottery_entry.reservation_no == entered["lottery"]["reservation_no"]
        made = pool.commit_draw(db.session, settings["lottery"]["campaign_id"], 1, now())
        pool.run_draw(db.session, made.id, "20260301", now())
        queued = db.session.get(Entry, entered["queue"]["id"])
        assert queued.status == "pending"
        staff = db.session.scalars(select(CommunityStaff)).one()
        registrations.review(db.session, staff, queued.id, True, None, now())
        pharmacist = db.session.scalars(select(Staff)
                                        .where(Staff.username == "mp.pharmacist")).one()
        registrations.release(db.session, pharmacist, 1, now())
        db.session.commit()

    _jest(["test/claim.test.js"], context)
    shown = _results(context)
    with app.app_context():
        claimed = db.session.get(Entry, shown["claim"]["lottery"]["id"])
        assert claimed.status == "claimed"
        assert claimed.fulfilment == shown["claim"]["lottery"]["fulfilment"]
        voucher = db.session.get(Entry, shown["claim"]["queue"]["id"])
        assert voucher.status == "released"
        assert voucher.voucher_code == shown["claim"]["queue"]["voucher_code"]
        assert voucher.claim_deadline > now() + timedelta(hours=1)

    _queue_in_the_waiting_room(app, context)

    shots = _screenshots()
    assert {p.stem for p in shots} >= {"index", "index-care", "profile-errors", "booking",
                                       "booking-large", "profile-household-large",
                                       "book-sold-out", "lottery-won", "queue-voucher",
                                       "room-before-opening", "room-placed", "room-waiting"}


def _queue_in_the_waiting_room(app, context: Path) -> None:
    """A campaign with a waiting room whose window opens 15 s after its jest part starts
    and closes its early group 8 s before (the fake beacon's next round orders them a few
    seconds later): ten residents joined before, twenty arrive at the opening (a thread
    here, over HTTP), and the two residents of the pages come before the ordering and
    after the opening."""
    settings = json.loads(context.read_text())
    data = load_preset("zhengzhou")
    data["waiting_room"] = {"enabled": True, "admit_per_second": 2, "sort_before_seconds": 8}
    opens = now() + timedelta(seconds=15)
    data["windows"] = [{"opens_at": opens.isoformat(),
                        "closes_at": (opens + timedelta(minutes=30)).isoformat(),
                        "quota": 500}]
    room = build(app, rules=data, open_now=False)
    base = settings["base_url"]
    url = f"{base}/api/v1/campaigns/{room.campaign_id}/room"
    early, late = people_of(app, 10), people_of(app, 20)
    for person in early:
        assert requests.post(url, headers=auth(person.token), timeout=10).status_code == 200

    def arrive_at_the_opening():
        time.sleep(max(0.0, (opens - now()).total_seconds() + 0.2))
        for person in late:
            requests.post(url, headers=auth(person.token), timeout=10)

    crowd = threading.Thread(target=arrive_at_the_opening)
    crowd.start()
    settings["room"] = {"campaign_id": room.campaign_id, "store_id": room.store_ids[0]}
    context.write_text(json.dumps(settings, ensure_ascii=False))
    try:
        _jest(["test/room.test.js"], context)
    finally:
        crowd.join()
    shown = _results(context)
    first, second = shown["room-early"], shown["room-late"]
    with app.app_context():
        for booked in (first, second):
            row = db.session.get(Booking, booked["id"])
            assert row.window_id == room.window_id
    # The early resident's place is the one anyone recomputes from the published round,
    # and that round's randomness is the beacon's.
    proof = requests.get(f"{base}/public/campaigns/{room.campaign_id}/windows/"
                         f"{room.window_id}/room.json", timeout=10).json()
    assert proof["beacon_round"] == first["round"]
    beacon = requests.get(f"{proof['beacon_url']}public/{proof['beacon_round']}",
                          timeout=10).json()
    assert proof["randomness"] == beacon["randomness"]
    order = waiting_room.recompute_order(proof["randomness"], room.window_id,
                                         list(range(1, proof["early_count"] + 1)))
    assert order.index(first["join_no"]) + 1 == first["position"]
    # The late one arrived after the twenty and waited in arrival order.
    assert second["join_no"] == second["position"] >= 32
