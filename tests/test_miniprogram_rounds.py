"""Every round of a draw and every state of a queue, driven through the mini-program's
pages against the real backend (the helpers of ``tests/test_miniprogram.py``: jest with
miniprogram-simulate, a live server, the context file, the screenshots).

- **Fuzhou**: a resident's first login, the real-name form and an entry; the operators
  commit a draw (the page shows the sealed list) and run it with a notary's value (ranks
  and the public draw inside the mini-program); winners claim, one by express to the home
  and one, living outside the delivery area, at a collection point found by search; the
  couriers' status files move both orders to delivered; a third winner lets the deadline
  pass; both may enter the next draw once ``reenter_after_days`` have passed, and the page
  says when before that.
- **Shanghai**: a household's first login registers for a pharmacy found by search; the
  committee refuses it with a reason; it registers again and is approved; the pharmacy's
  daily supply releases vouchers in reservation order while the page shows its place and
  the batches; the voucher names the pharmacy; the pharmacist takes it.

Python runs the operators' side between the parts and checks the database after each.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, update

from tests.official import run_jobs
from tests.test_miniprogram import SCREENS, _jest, _npm_ready, _person, _results, _screenshots
from tests.worlds import auth, now
from tests.worlds import residents as people_of
from wx_backend.campaigns import manage, reservation
from wx_backend.campaigns.rules import load_preset
from wx_backend.dev.fakes.wechat_api import openid_for
from wx_backend.extensions import db
from wx_backend.identity.accounts import create_community_staff, create_staff
from wx_backend.jobs import tasks
from wx_backend.lottery import draw as verifiable
from wx_backend.lottery import pool
from wx_backend.models import (
    Campaign,
    Draw,
    DrawRank,
    Entry,
    PostalOrder,
    Resident,
    Store,
    SubscribeConsent,
)

PASSWORD = "a long enough password"
STORES = 30  # more than a screen of radio buttons: the pages offer a search box

FUZHOU_ROADS = [("鼓楼区", "五四路"), ("台江区", "八一七中路"), ("仓山区", "南江滨西大道"),
                ("晋安区", "福新中路"), ("马尾区", "罗星西路"), ("鼓楼区", "东街")]
SHANGHAI_ROADS = [("浦东新区", "花木路"), ("浦东新区", "张杨路"), ("徐汇区", "漕溪北路"),
                  ("黄浦区", "淮海中路"), ("闵行区", "七莘路"), ("长宁区", "天山路")]
CHAINS = ["大参林", "国大药房", "惠好", "海王星辰", "益丰", "老百姓", "第一医药", "华氏"]


def _stores_csv(city: str, roads, lat: float, lng: float) -> str:
    lines = ["name,address,district,lat,lng,daily_cap,opening_hours"]
    for n in range(STORES):
        district, road = roads[n % len(roads)]
        chain = CHAINS[n % len(CHAINS)]
        hours = "08:00-21:00" if n % 3 else "09:00-18:00"
        lines.append(f"{chain}{road}{n + 1}号店,{city}{district}{road}{n * 7 + 3}号,{district},"
                     f"{lat + n * 0.002:.4f},{lng + n * 0.002:.4f},500,{hours}")
    return "\n".join(lines) + "\n"


def _campaign(app, preset: str, stores_csv: str) -> tuple[int, list[dict]]:
    with app.app_context():
        data = load_preset(preset)
        campaign = manage.create_campaign(db.session, f"{preset}-rounds", data,
                                          now() - timedelta(hours=1), preset=preset)
        result = manage.import_stores(db.session, campaign, stores_csv, data["store_daily_cap"])
        assert not result.errors, result.errors
        db.session.commit()
        stores = [{"id": s.id, "name": s.name, "address": s.address,
                   "opening_hours": s.opening_hours}
                  for s in db.session.scalars(select(Store).where(Store.campaign_id == campaign.id)
                                              .order_by(Store.id))]
        return campaign.id, stores


def _with_profile(residents, who: str, n: int, **extra) -> dict:
    """A resident who filled the real-name form earlier (through the API, as the form does)."""
    person = _person(n)
    token = residents.login(who)
    answer = residents.put_profile(token, name=person["name"], id_number=person["id_number"],
                                   phone=person["phone"],
                                   sms_code=residents.code_for(token, person["phone"]), **extra)
    assert answer.status_code == 200, answer.json
    return person


def _write(path: Path, settings: dict) -> None:
    path.write_text(json.dumps(settings, ensure_ascii=False))


def _resident(app, who: str) -> Resident:
    return db.session.scalars(select(Resident).where(Resident.openid == openid_for(
        app.config["WECHAT_MINIPROGRAM_APPID"], who))).one()


def _entries(app, who: str) -> list[Entry]:
    """The resident's entries, oldest first."""
    return list(db.session.scalars(select(Entry).where(Entry.resident_id == _resident(app, who).id)
                                   .order_by(Entry.id)))


def _subscribe_messages(fake_wechat, app, template: str) -> set[str]:
    """The openids a subscribe message of ``template`` went to (the fake WeChat's record)."""
    sent = requests.get(fake_wechat.base_url + "fake/messages", params={"kind": "subscribe"},
                        timeout=5).json()["messages"]
    return {m["touser"] for m in sent if m["body"]["template_id"] == template}


def _fresh_screens(prefix: str) -> None:
    for old in SCREENS.glob(f"{prefix}*"):
        old.unlink()


@pytest.fixture
def fuzhou(app, residents, live_server, tmp_path) -> Path:
    campaign_id, stores = _campaign(app, "fuzhou", _stores_csv("福州市", FUZHOU_ROADS,
                                                               26.07, 119.29))
    # fz-home goes through the real-name form in the test; the others filled it before:
    # one lives outside the delivery area (闽侯县), two inside.
    home = {**_person(40), "address": "福州市鼓楼区五四路158号环球广场2栋1203",
            "district": "鼓楼区"}
    _with_profile(residents, "fz-far", 41, address="福州市闽侯县上街镇学府南路9号6栋302",
                  district_code="350121")
    _with_profile(residents, "fz-late", 42, address="福州市台江区八一七中路668号3单元501",
                  district_code="350103")
    _with_profile(residents, "fz-lose", 43, address="福州市仓山区南江滨西大道190号1栋",
                  district_code="350104")
    path = tmp_path / "context.json"
    _write(path, {"base_url": live_server, "results": str(tmp_path / "results"),
                  "fuzhou": {"campaign_id": campaign_id, "search": stores[-2]},
                  "home": home})
    (tmp_path / "results").mkdir()
    return path


def _operator(app, args: list[str]) -> str:
    done = app.test_cli_runner().invoke(args=args)
    assert done.exit_code == 0, done.output
    return done.output


def test_fuzhou_every_round_of_a_draw(app, client, fuzhou, fake_wechat, tmp_path):
    _npm_ready()
    _fresh_screens("rounds-fuzhou")
    _fresh_screens("rounds-draw")
    settings = json.loads(fuzhou.read_text())
    campaign_id = settings["fuzhou"]["campaign_id"]

    _jest(["test/rounds-units.test.js", "test/rounds-fuzhou-enter.test.js"], fuzhou)
    shown = _results(fuzhou)["fuzhou-enter"]
    with app.app_context():
        home = _resident(app, "fz-home")
        assert (home.name, home.phone, home.district_code) == (
            settings["home"]["name"], settings["home"]["phone"], "350102")
        for who in ("fz-home", "fz-far", "fz-late", "fz-lose"):
            (entry,) = _entries(app, who)
            assert (entry.id, entry.reservation_no, entry.status) == (
                shown[who]["id"], shown[who]["reservation_no"], "pooled")
            # The win's message was asked for at each tap on "enter" (fz-home's first went
            # to the real-name form), and allowed each time.
            consent = db.session.get(SubscribeConsent, (entry.resident_id, "draw_won"))
            assert consent.remaining == (2 if who == "fz-home" else 1)
    # A dozen more residents in the pool, then the operators seal it.
    for person in people_of(app, 12):
        assert client.post(f"/api/v1/campaigns/{campaign_id}/entries",
                           headers=auth(person.token)).status_code == 201
    committed = _operator(app, ["lottery", "commit-draw", "--campaign", str(campaign_id),
                                "--quota", "5"])
    draw_id = int(committed.split()[1])
    settings["draw_id"] = draw_id
    _write(fuzhou, settings)

    _jest(["test/rounds-fuzhou-sealed.test.js"], fuzhou)
    assert _results(fuzhou)["fuzhou-sealed"]["entries_count"] == 16
    with app.app_context():
        # The notary's value: one under which the three who will claim or lapse win and
        # the fourth does not, as a typed value falls one way or another.
        found = db.session.get(Draw, draw_id)
        numbers = {who: _entries(app, who)[0].reservation_no
                   for who in ("fz-home", "fz-far", "fz-late", "fz-lose")}
        commitment = verifiable.load_commitment(found.commitment)
        secret = bytes.fromhex(found.secret)

        def fits(value: str) -> bool:
            winners = verifiable.draw(commitment, found.entries_text, secret, value).winners
            return numbers["fz-lose"] not in winners and all(
                numbers[who] in winners for who in ("fz-home", "fz-far", "fz-late"))

        value = next(v for v in (f"公证员现场输入 {n:04d}" for n in range(5000)) if fits(v))
    _operator(app, ["lottery", "run-draw", "--draw", str(draw_id), "--public-value", value])
    run_jobs(app)
    appid = app.config["WECHAT_MINIPROGRAM_APPID"]
    assert _subscribe_messages(fake_wechat, app, "dev-draw_won") == {
        openid_for(appid, who) for who in ("fz-home", "fz-far", "fz-late")}

    _jest(["test/rounds-fuzhou-won.test.js"], fuzhou)
    won = _results(fuzhou)["fuzhou-won"]
    with app.app_context():
        ranks = dict(db.session.execute(select(DrawRank.reservation_no, DrawRank.rank)
                                        .where(DrawRank.draw_id == draw_id)).all())
        for who in ("fz-home", "fz-lose"):
            assert won[who]["rank"] == ranks[numbers[who]]
        assert won["fz-lose"]["rank"] > 5 >= won["fz-home"]["rank"]
        orders = {}
        for who, channel in (("fz-home", "express"), ("fz-far", "collection_point")):
            (entry,) = _entries(app, who)
            assert (entry.status, entry.fulfilment) == ("claimed", channel)
            order = db.session.scalars(select(PostalOrder)
                                       .where(PostalOrder.entry_id == entry.id)).one()
            assert (order.channel, order.fee_fen, order.status) == (channel, 0, "pending")
            orders[who] = order.id
        far_order = db.session.get(PostalOrder, orders["fz-far"])
        assert far_order.store_id == settings["fuzhou"]["search"]["id"] == won["fz-far"]["point"]
        assert far_order.address == "福州市闽侯县上街镇学府南路9号6栋302"
        assert _entries(app, "fz-late")[0].status == "won"

    # The couriers' files, as the operators import them: shipped with a tracking number,
    # then delivered (home and collection point alike).
    for lines in ([f"{orders['fz-home']},shipped,9812345678901",
                   f"{orders['fz-far']},shipped,"],
                  [f"{orders['fz-home']},delivered,9812345678901",
                   f"{orders['fz-far']},delivered,"]):
        statuses = tmp_path / "statuses.csv"
        statuses.write_text("order_id,status,tracking_no\n" + "\n".join(lines) + "\n")
        _operator(app, ["delivery", "import", str(statuses)])
    # fz-late's 48 hours pass; the scheduled job lapses the win.
    with app.app_context():
        late = _entries(app, "fz-late")[0]
        db.session.execute(update(Entry).where(Entry.id == late.id)
                           .values(won_at=now() - timedelta(hours=49),
                                   claim_deadline=now() - timedelta(hours=1)))
        db.session.commit()
        assert tasks.HANDLERS["lapse_wins"]() == {"lapsed": 1}

    _jest(["test/rounds-fuzhou-delivered.test.js"], fuzhou)
    delivered = _results(fuzhou)["fuzhou-delivered"]
    with app.app_context():
        for who in ("fz-home", "fz-late"):
            entry = _entries(app, who)[0]
            assert delivered[who]["reenter_at"] == (entry.won_at + timedelta(days=10)).isoformat()
        assert db.session.get(PostalOrder, orders["fz-home"]).tracking_no == "9812345678901"
        assert delivered["fz-home"]["tracking_no"] == "9812345678901"
        # Ten days after the wins (the rows moved back in time, as the clock would move).
        db.session.execute(update(Entry).where(Entry.campaign_id == campaign_id,
                                               Entry.won_at.is_not(None))
                           .values(won_at=Entry.won_at - timedelta(days=10)))
        db.session.commit()

    _jest(["test/rounds-fuzhou-next.test.js"], fuzhou)
    again = _results(fuzhou)["fuzhou-next"]
    with app.app_context():
        for who, first in (("fz-home", "claimed"), ("fz-late", "lapsed")):
            old, new = _entries(app, who)
            assert (old.status, new.status) == (first, "pooled")
            assert new.reservation_no == again[who]["reservation_no"] != old.reservation_no
        # The lapsed unit goes to the next draw; the new entries are in its pool.
        made = pool.commit_draw(db.session, campaign_id, 5, now())
        assert (made.quota, made.returned) == (6, 1)
        assert again["fz-home"]["reservation_no"].encode() in made.entries_text
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Draw)) == 1

    shots = _screenshots("rounds-[fd]*.html")
    names = {p.stem for p in shots}
    for state in ("fuzhou-entered", "fuzhou-sealed", "draw-sealed", "fuzhou-won",
                  "fuzhou-claimed", "fuzhou-far-options", "fuzhou-point-search",
                  "fuzhou-point-claimed", "fuzhou-lost", "draw-drawn", "draw-lost",
                  "fuzhou-delivered", "fuzhou-lapsed", "fuzhou-next-round", "fuzhou-reentered",
                  "fuzhou-bookings"):
        assert {f"rounds-{state}", f"rounds-{state}-large"} <= names, state


@pytest.fixture
def shanghai(app, client, residents, live_server, tmp_path) -> Path:
    campaign_id, stores = _campaign(app, "shanghai", _stores_csv("上海市", SHANGHAI_ROADS,
                                                                 31.22, 121.54))
    chosen = stores[-3]
    with app.app_context():
        # A key under which the household's second registration (entry 2) has a number in
        # the upper half, so that neighbours registering after it come before it as often
        # as not (the test waits for three of them).
        campaign = db.session.get(Campaign, campaign_id)
        campaign.reservation_key = next(key for key in iter(reservation.new_key, None)
                                        if reservation.reservation_number(key, 2) > "55000000")
        create_community_staff(db.session, "rounds.huamu", PASSWORD, "310115")
        create_staff(db.session, "rounds.pharmacist", PASSWORD, chosen["id"])
        db.session.commit()
    path = tmp_path / "context.json"
    _write(path, {"base_url": live_server, "results": str(tmp_path / "results"),
                  "shanghai": {"campaign_id": campaign_id, "store": chosen},
                  "household": {**_person(50), "district": "浦东新区",
                                "address": "上海市浦东新区花木路1500弄12号601室"}})
    (tmp_path / "results").mkdir()
    return path


def _login(client, role: str, name: str) -> dict:
    answer = client.post(f"/api/v1/{role}/login", json={"username": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.json
    return auth(answer.json["token"])


def test_shanghai_every_state_of_the_queue(app, client, shanghai, fake_wechat):
    _npm_ready()
    _fresh_screens("rounds-shanghai")
    settings = json.loads(shanghai.read_text())
    campaign_id, store = settings["shanghai"]["campaign_id"], settings["shanghai"]["store"]
    committee = _login(client, "community", "rounds.huamu")
    pharmacist = _login(client, "staff", "rounds.pharmacist")

    _jest(["test/rounds-shanghai-register.test.js"], shanghai)
    shown = _results(shanghai)["shanghai-register"]
    with app.app_context():
        (first,) = _entries(app, "sh-home")
        assert (first.id, first.status, first.store_id) == (shown["id"], "pending", store["id"])
        assert _resident(app, "sh-home").district_code == "310115"
        # Asked at both taps that registered (the first went to the real-name form).
        assert db.session.get(SubscribeConsent,
                              (first.resident_id, "voucher_released")).remaining == 2
    reason = "电话未能联系上核实住址，请保持电话畅通后重新登记"
    refused = client.post(f"/api/v1/community/registrations/{first.id}/review",
                          headers=committee, json={"approve": False, "reason": reason})
    assert refused.status_code == 200, refused.json

    _jest(["test/rounds-shanghai-again.test.js"], shanghai)
    again = _results(shanghai)["shanghai-again"]
    with app.app_context():
        old, new = _entries(app, "sh-home")
        assert (old.status, new.status, new.id) == ("rejected", "pending", again["id"])
        assert again["reject_reason"] == old.reject_reason
        new_id, new_no = new.id, new.reservation_no
        assert new_id == 2  # the entry the campaign's key was chosen for
    assert client.post(f"/api/v1/community/registrations/{new_id}/review", headers=committee,
                       json={"approve": True}).status_code == 200
    # Neighbours register for the same pharmacy and are approved, until at least three
    # reservation numbers come before the household's and some after (numbers are a keyed
    # permutation of the entry ids; the campaign's key puts the household's in the upper
    # half, so a handful of neighbours is enough).
    ahead, behind, n = 0, 0, 0
    while ahead < 3 or behind < 2:
        assert n < 60, "the neighbours' numbers all fell on one side"
        (person,) = people_of(app, 1)
        with app.app_context():
            row = db.session.get(Resident, person.id)
            row.address = f"上海市浦东新区张杨路{200 + n}弄{n % 9 + 1}号{n % 6 + 1}01室"
            row.district_code = "310115"
            row.promised_at = now()
            db.session.commit()
        made = client.post(f"/api/v1/campaigns/{campaign_id}/entries", headers=auth(person.token),
                           json={"store_id": store["id"]})
        assert made.status_code == 201, made.json
        assert client.post(f"/api/v1/community/registrations/{made.json['id']}/review",
                           headers=committee, json={"approve": True}).status_code == 200
        if made.json["reservation_no"] < new_no:
            ahead += 1
        else:
            behind += 1
        n += 1
    first_batch = client.post("/api/v1/staff/supply", headers=pharmacist,
                              json={"units": ahead - 1})
    assert first_batch.json["released"] == ahead - 1
    settings["expect"] = {"position": 2, "released": ahead - 1}
    _write(shanghai, settings)

    _jest(["test/rounds-shanghai-waiting.test.js"], shanghai)
    waiting = _results(shanghai)["shanghai-waiting"]
    assert (waiting["position"], waiting["ahead"], waiting["released"]) == (2, 1, ahead - 1)
    second_batch = client.post("/api/v1/staff/supply", headers=pharmacist, json={"units": 2})
    assert new_no in second_batch.json["reservation_nos"]
    run_jobs(app)
    appid = app.config["WECHAT_MINIPROGRAM_APPID"]
    assert openid_for(appid, "sh-home") in _subscribe_messages(fake_wechat, app,
                                                               "dev-voucher_released")

    _jest(["test/rounds-shanghai-voucher.test.js"], shanghai)
    voucher = _results(shanghai)["shanghai-voucher"]
    with app.app_context():
        held = db.session.get(Entry, new_id)
        assert (held.status, held.voucher_code) == ("released", voucher["voucher_code"])
        id_last4 = _resident(app, "sh-home").id_number[-4:]
    assert voucher["pharmacy"] == {"name": store["name"], "address": store["address"],
                                   "opening_hours": store["opening_hours"]}
    taken = client.post("/api/v1/staff/vouchers/redeem", headers=pharmacist,
                        json={"voucher_code": voucher["voucher_code"], "id_last4": id_last4})
    assert taken.status_code == 200, taken.json

    _jest(["test/rounds-shanghai-used.test.js"], shanghai)
    with app.app_context():
        used = db.session.get(Entry, new_id)
        assert used.status == "redeemed" and used.redeemed_at is not None
        assert _results(shanghai)["shanghai-used"]["status_text"] == "已购买"

    shots = _screenshots("rounds-shanghai*.html")
    names = {p.stem for p in shots}
    for state in ("shanghai-choose", "shanghai-search", "shanghai-pending", "shanghai-rejected",
                  "shanghai-registered-again", "shanghai-waiting", "shanghai-bookings",
                  "shanghai-voucher", "shanghai-used"):
        assert {f"rounds-{state}", f"rounds-{state}-large"} <= names, state
