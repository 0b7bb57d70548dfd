"""The console at /console, in Debian's Chromium (Playwright) against the real server for
each role's main task, and over plain HTTP for who may reach what: every page tried by
every other role and by nobody, forms without their CSRF token, another store's booking
by URL, and six wrong passwords. Screenshots go to test-output/console/ for people to look
at."""

from __future__ import annotations

import io
import re
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from openpyxl import Workbook
from sqlalchemy import func, select

from tests.worlds import auth, build, move_window, residents
from wx_backend.booking import pickup
from wx_backend.campaigns.rules import load_preset, parse_rules
from wx_backend.config import signing_keys
from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import DomainError
from wx_backend.dev import people
from wx_backend.extensions import db
from wx_backend.identity.accounts import (
    create_community_staff,
    create_editor,
    create_operator,
    create_staff,
)
from wx_backend.identity.sessions import StaffSessions
from wx_backend.models import AssistedAction, AuditEntry, Booking, Resident, Staff, Store
from wx_backend.web.console.rules_form import patch_from

SHOTS = Path(__file__).resolve().parent.parent / "test-output" / "console"
SHOTS.mkdir(parents=True, exist_ok=True)
PASSWORD = "a long enough password"

PAGES = {  # every console page, by the role it is for
    "pharmacy": ["/console/pharmacy", "/console/pharmacy/day", "/console/pharmacy/bookings",
                 "/console/pharmacy/lookup?q=12345678", "/console/pharmacy/bookings/1",
                 "/console/pharmacy/queue", "/console/pharmacy/vouchers"],
    "community": ["/console/community", "/console/community/register",
                  "/console/community/residents/1",
                  "/console/community/residents/1/bookings/1/qrcode.png",
                  "/console/community/residents/1/bookings/1/slip",
                  "/console/community/registrations?campaign_id=1"],
    "editor": ["/console/editor", "/console/editor/1/edit", "/console/editor/1/preview",
               "/console/editor/faq"],
    "operator": ["/console/operator", "/console/operator/stores", "/console/operator/jobs",
                 "/console/operator/approvals", "/console/operator/accounts",
                 "/console/operator/store-list", "/console/operator/audit",
                 "/console/operator/public-list",
                 "/console/operator/delivery", "/console/operator/delivery/export",
                 "/console/operator/draws",
                 "/console/operator/windows/1", "/console/operator/windows/1/figures",
                 "/console/operator/campaigns/1"],
}
FORMS = {  # every console form, by the role it is for
    "pharmacy": ["/console/pharmacy/redeem", "/console/pharmacy/queue/preview",
                 "/console/pharmacy/queue/release", "/console/pharmacy/vouchers"],
    "community": ["/console/community/register", "/console/community/residents/1/book",
                  "/console/community/residents/1/enter",
                  "/console/community/registrations/1/review"],
    "editor": ["/console/editor/new", "/console/editor/1/edit", "/console/editor/1/publish",
               "/console/editor/1/schedule", "/console/editor/1/retract",
               "/console/editor/faq", "/console/editor/faq/try"],
    "operator": ["/console/operator/stores/check", "/console/operator/stores/confirm",
                 "/console/operator/jobs/retry", "/console/operator/delivery/statuses",
                 "/console/operator/draws/commit", "/console/operator/draws/1/run",
                 "/console/operator/campaigns", "/console/operator/campaigns/1/windows",
                 "/console/operator/campaigns/1/rules",
                 "/console/operator/campaigns/1/rules/2/withdraw",
                 "/console/operator/approvals/1/approve", "/console/operator/accounts",
                 "/console/operator/accounts/pharmacy/1/unlock",
                 "/console/operator/stores/1/deactivate"],
}


@pytest.fixture
def world(app):
    """A Zhengzhou campaign open now, and an account of every role (the pharmacist at the
    first store, the community worker for 金水区)."""
    made = build(app, "zhengzhou")
    with app.app_context():
        create_staff(db.session, "pharmacist.a", PASSWORD, made.store_ids[0])
        create_staff(db.session, "pharmacist.b", PASSWORD, made.store_ids[1])
        create_community_staff(db.session, "jinshui.li", PASSWORD, "410105")
        create_editor(db.session, "editor.wang", PASSWORD)
        create_operator(db.session, "operator.zhao", PASSWORD)
        db.session.commit()
    return made


ACCOUNTS = {"pharmacy": "pharmacist.a", "community": "jinshui.li", "editor": "editor.wang",
            "operator": "operator.zhao"}


def _token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _signed_in(base: str, role: str, username: str | None = None) -> requests.Session:
    browser = requests.Session()
    token = _token(browser.get(f"{base}/console/login", timeout=10).text)
    answer = browser.post(f"{base}/console/login", timeout=10, allow_redirects=False, data={
        "csrf_token": token, "role": role, "username": username or ACCOUNTS[role],
        "password": PASSWORD})
    assert answer.status_code == 302, answer.text[:500]
    return browser


def _booked(client, world, resident_token: str, store: int = 0) -> dict:
    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                         json={"store_id": world.store_ids[store]}, headers=auth(resident_token))
    assert answer.status_code == 201, answer.json
    return answer.json


def _pickup_now(sql, booking_id: int) -> None:
    """Move a booking's pickup window around now (bookings are collected the next day)."""
    sql("UPDATE bookings SET pickup_starts_at = now() - interval '1 hour', "
        "pickup_ends_at = now() + interval '8 hours', "
        "pickup_date = (now() AT TIME ZONE 'Asia/Shanghai')::date "
        "WHERE id = %s RETURNING id", booking_id)


def _sign_in_page(browser, base: str, role: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    # Staff answer "确定" to every "are you sure" (each test says which it meets).
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{base}/console/login")
    page.select_option("select[name=role]", role)
    page.fill("input[name=username]", ACCOUNTS[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def _scan(page, text: str) -> None:
    """What a USB scanner does: types the code into the focused box and presses Enter."""
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_a_pharmacist_redeems_a_booking_made_through_the_api(
        app, client, world, residents, ids, sql, live_server, browser):
    holder_id = ids()
    token = residents.verified("counter-holder", holder_id, "13700001234", name="刘桂兰")
    booked = _booked(client, world, token)
    _pickup_now(sql, booked["id"])
    with app.app_context():
        qr = pickup.qr_token(signing_keys(app.config), db.session.get(Booking, booked["id"]))

    page = _sign_in_page(browser, live_server, "pharmacy")
    page.wait_for_url(f"{live_server}/console/pharmacy")
    assert page.evaluate("document.activeElement.name") == "code"  # a scanner types here
    page.screenshot(path=str(SHOTS / "pharmacy-counter.png"), full_page=True)

    # The scanner's Enter moves on to the ID box, and sends nothing yet.
    _scan(page, qr)
    assert page.evaluate("document.activeElement.name") == "id_last4"
    assert page.inner_text("#result") == ""
    wrong = "0000" if not holder_id.endswith("0000") else "1111"
    page.keyboard.type(wrong)
    page.keyboard.press("Enter")
    page.wait_for_selector("#result [data-code=id_mismatch]")
    assert "身份证号后四位与预约人不符" in page.inner_text("#result")
    # The refusal keeps the scanned code, and selects the digits to type again.
    assert page.input_value("input[name=code]") == qr
    assert page.evaluate("document.activeElement.name") == "id_last4"
    page.screenshot(path=str(SHOTS / "pharmacy-id-mismatch.png"), full_page=True)

    page.keyboard.type(holder_id[-4:])
    page.keyboard.press("Enter")
    page.wait_for_selector("#collected-ok")
    assert booked["reservation_no"] in page.inner_text("#result")
    assert "刘*兰" in page.inner_text("#result")
    page.wait_for_function("document.querySelector('#collected').textContent.trim() === '1'")
    assert page.evaluate("document.activeElement.name") == "code"
    assert page.input_value("input[name=code]") == ""
    page.screenshot(path=str(SHOTS / "pharmacy-collected.png"), full_page=True)

    # The same resident again, by reservation number this time: already collected, when
    # and by whom.
    page.keyboard.type(booked["reservation_no"])
    page.keyboard.press("Enter")
    page.keyboard.type(holder_id[-4:])
    page.keyboard.press("Enter")
    page.wait_for_selector("#result [data-code=already_collected]")
    said = page.inner_text("#result")
    assert "不能重复取货" in said and "由预约人本人取走" in said and "pharmacist.a" in said
    with app.app_context():
        collected = db.session.get(Booking, booked["id"]).collected_at
    # In Beijing time, as the pharmacist's clock shows it.
    assert collected.astimezone(BEIJING).strftime("%H:%M") in said
    assert page.input_value("input[name=code]") == booked["reservation_no"]
    page.screenshot(path=str(SHOTS / "pharmacy-already.png"), full_page=True)

    # Looking a booking up without redeeming it, and the day's list.
    page.fill("#lookup input[name=q]", booked["pickup_code"])
    page.click("#lookup button")
    page.wait_for_selector("#found-booking")
    assert "已取货" in page.inner_text("#booking-status")
    page.click("text=本店预约")
    page.fill("#search input[name=q]", booked["reservation_no"][:5])
    page.click("#search button")
    page.wait_for_selector("#day-bookings")
    assert booked["reservation_no"] in page.inner_text("#day-bookings")
    page.screenshot(path=str(SHOTS / "pharmacy-bookings.png"), full_page=True)

    with app.app_context():
        row = db.session.get(Booking, booked["id"])
        assert row.status == "collected"
        trail = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "redeem")).all()
        assert [(t.actor_name, t.subject) for t in trail] == [
            ("pharmacist.a", f"booking {booked['id']}")]


def test_a_counter_left_open_past_its_session_keeps_what_was_typed(
        app, client, world, residents, ids, sql, live_server, browser):
    holder_id = ids()
    token = residents.verified("late-holder", holder_id, "13700004321", name="何玉英")
    booked = _booked(client, world, token)
    _pickup_now(sql, booked["id"])
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server}/console/login")
    page.fill("input[name=username]", ACCOUNTS["pharmacy"])
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/console/pharmacy")
    page.fill("input[name=code]", booked["pickup_code"])
    page.fill("input[name=id_last4]", holder_id[-4:])
    with app.app_context():  # the session ends meanwhile (idle, or signed out elsewhere)
        StaffSessions(app.extensions["redis"]).end_all(
            "pharmacy", db.session.scalars(select(Staff).where(
                Staff.username == ACCOUNTS["pharmacy"])).one().id)

    page.click("button.primary.big")
    page.wait_for_selector("#expired")
    assert page.input_value("input[name=code]") == booked["pickup_code"]
    assert page.input_value("input[name=id_last4]") == holder_id[-4:]
    page.screenshot(path=str(SHOTS / "pharmacy-expired.png"), full_page=True)
    with page.expect_popup() as opened:
        page.click("#expired a")
    again = opened.value
    again.fill("input[name=username]", ACCOUNTS["pharmacy"])
    again.fill("input[name=password]", PASSWORD)
    again.click("button[type=submit]")
    again.wait_for_url(f"{live_server}/console/pharmacy")
    again.close()

    page.click("button.primary.big")  # the page's form token was the old session's
    page.wait_for_selector("text=页面已过期，已自动更新")
    assert page.input_value("input[name=code]") == booked["pickup_code"]
    page.click("button.primary.big")
    page.wait_for_selector("#collected-ok")
    with app.app_context():
        assert db.session.get(Booking, booked["id"]).status == "collected"
    context.close()


def test_an_operator_opens_an_account_and_its_holder_sets_a_password(
        app, client, world, sql, live_server, browser):
    desk = _sign_in_page(browser, live_server, "operator")
    desk.wait_for_url(f"{live_server}/console/operator")
    desk.click("text=账号")
    desk.select_option("#open-account select[name=role]", "pharmacy")
    desk.fill("#open-account input[name=username]", "counter.wu")
    desk.click("#open-account button")
    desk.wait_for_selector("#notice.error")  # no store chosen: nothing opened
    assert "请选择药店" in desk.inner_text("#open-account")
    assert desk.input_value("#open-account input[name=username]") == "counter.wu"
    with app.app_context():
        store = db.session.get(Store, world.store_ids[2])
    desk.select_option("#open-account select[name=store_id]", str(store.id))
    desk.click("#open-account button")
    desk.wait_for_selector("#new-password")
    password = desk.inner_text("#new-password")
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", password)
    desk.screenshot(path=str(SHOTS / "operator-accounts.png"), full_page=True)
    # The temporary password opens nothing through the API until it is replaced.
    api = client.post("/api/v1/staff/login", json={"username": "counter.wu",
                                                   "password": password})
    assert api.status_code == 403 and api.json["error"]["code"] == "password_change_required"

    holder = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    holder.goto(f"{live_server}/console/login")
    holder.fill("input[name=username]", "counter.wu")
    holder.fill("input[name=password]", password)
    holder.click("button[type=submit]")
    holder.wait_for_url(f"{live_server}/console/password")
    assert holder.locator("#first-sign-in").is_visible()
    holder.screenshot(path=str(SHOTS / "first-sign-in.png"), full_page=True)
    holder.goto(f"{live_server}/console/pharmacy")  # nothing else before the password
    assert holder.url == f"{live_server}/console/password"
    own = "my own counter passphrase"
    holder.fill("input[name=current_password]", password)
    holder.fill("input[name=new_password]", own)
    holder.fill("input[name=repeat_password]", own)
    holder.click("button.primary")
    holder.wait_for_selector("text=密码已修改")
    holder.goto(f"{live_server}/console/login")
    holder.fill("input[name=username]", "counter.wu")
    holder.fill("input[name=password]", own)
    holder.click("button[type=submit]")
    holder.wait_for_url(f"{live_server}/console/pharmacy")
    assert store.name in holder.inner_text("#day")

    # Five wrong passwords lock it; the operator lifts the lock, then resets it.
    for attempt in range(5):
        client.post("/api/v1/staff/login", json={"username": "counter.wu",
                                                 "password": f"wrong {attempt}"})
    assert client.post("/api/v1/staff/login", json={
        "username": "counter.wu", "password": own}).status_code == 401
    desk.goto(f"{live_server}/console/operator/accounts?q=counter.wu")
    assert "锁定至" in desk.inner_text("#accounts")
    desk.click("#accounts [data-action=unlock]")
    desk.wait_for_selector("text=已解除 counter.wu 的锁定")
    assert client.post("/api/v1/staff/login", json={
        "username": "counter.wu", "password": own}).status_code == 200
    desk.click("#accounts [data-action=reset]")
    desk.wait_for_selector("#new-password")
    holder.reload()
    assert holder.url.startswith(f"{live_server}/console/login")  # its session ended
    desk.click("#accounts [data-action=deactivate]")
    desk.wait_for_selector("text=已停用 counter.wu")
    trail = sql("SELECT action, subject FROM audit_log WHERE action IN ('open_account', "
                "'unlock', 'reset_password', 'deactivate', 'change_password') ORDER BY id")
    assert [row[0] for row in trail] == ["open_account", "change_password", "unlock",
                                         "reset_password", "deactivate"]


def test_a_community_worker_registers_a_resident_and_books_for_them(
        app, world, live_server, browser):
    number = 7_700
    kind, id_number = people.document(number)
    page = _sign_in_page(browser, live_server, "community")
    page.wait_for_url(f"{live_server}/console/community")
    page.goto(f"{live_server}/console/community/register")
    page.fill("input[name=name]", "赵淑珍")
    page.fill("input[name=id_number]", "123")
    page.fill("input[name=phone]", "13912345678")
    page.fill("input[name=address]", "郑州市金水区花园路12号院3号楼2单元501")
    page.click("button.primary.big")
    page.wait_for_selector("[data-field=id_number]")
    page.screenshot(path=str(SHOTS / "community-register-error.png"), full_page=True)

    page.fill("input[name=id_number]", id_number)
    page.check("input[name=promise]")
    page.click("button.primary.big")
    page.wait_for_url(re.compile(r".*/console/community/residents/\d+$"))
    resident_id = int(page.url.rsplit("/", 1)[1])
    page.click("form[action$='/book'] button.primary")
    page.wait_for_selector("#notice")
    assert "预约成功" in page.inner_text("#notice")
    page.screenshot(path=str(SHOTS / "community-booked.png"), full_page=True)

    with app.app_context():
        resident = db.session.get(Resident, resident_id)
        assert resident.name == "赵淑珍" and resident.profile_complete
        booking = db.session.scalars(select(Booking).where(
            Booking.resident_id == resident_id)).one()
        assert booking.reservation_no in page.inner_text("#notice")
        steps = db.session.scalars(select(AssistedAction.action).where(
            AssistedAction.resident_id == resident_id).order_by(AssistedAction.id)).all()
        assert steps == ["register", "book"]
    # The code stays on the resident's page, with a slip to print for someone without
    # a phone.
    assert booking.pickup_code in page.inner_text("#bookings")
    with page.expect_popup() as opened:
        page.click("#bookings a:has-text('打印取货单')")
    slip = opened.value
    slip.wait_for_load_state()
    printed = slip.inner_text("#slip")
    assert booking.pickup_code in printed and booking.reservation_no in printed
    assert "身份证" in printed and "代取" in printed
    assert slip.evaluate("document.querySelector('#slip img').naturalWidth") > 100  # the QR
    slip.screenshot(path=str(SHOTS / "community-slip.png"), full_page=True)
    slip.close()

    # The district's residents: found again by the whole ID number, not by its text.
    page.goto(f"{live_server}/console/community")
    assert "赵*珍" in page.inner_text("#residents")
    page.fill("#find input[name=q]", id_number)
    page.click("#find button")
    page.wait_for_selector("#residents")
    assert page.locator("#residents tbody tr").count() == 1
    page.fill("#find input[name=q]", "110105198506150014")  # nobody of this district
    page.click("#find button")
    page.wait_for_selector("text=没有找到这个号码的本辖区居民")
    page.screenshot(path=str(SHOTS / "community-residents.png"), full_page=True)


def test_every_page_refuses_nobody_and_every_other_role(world, live_server):
    anonymous = requests.Session()
    for pages in PAGES.values():
        for path in pages:
            answer = anonymous.get(live_server + path, allow_redirects=False, timeout=10)
            assert answer.status_code == 302, path
            assert "/console/login" in answer.headers["Location"]
    for role in ACCOUNTS:
        signed_in = _signed_in(live_server, role)
        token = _token(signed_in.get(f"{live_server}/console/login", timeout=10).text)
        for other, pages in PAGES.items():
            for path in pages:
                answer = signed_in.get(live_server + path, allow_redirects=False, timeout=10)
                assert (answer.status_code == 403) == (other != role), (role, path)
                assert answer.status_code < 500, (role, path)
        for other, forms in FORMS.items():
            if other == role:
                continue
            for path in forms:
                answer = signed_in.post(live_server + path, data={"csrf_token": token},
                                        allow_redirects=False, timeout=10)
                assert answer.status_code == 403, (role, path)
        hx = signed_in.get(f"{live_server}/console/pharmacy/day",
                           headers={"HX-Request": "true"}, timeout=10)
        assert (hx.status_code == 403) == (role != "pharmacy")


def test_the_session_cookie_stays_in_the_console_and_out_of_scripts(world, live_server):
    browser = requests.Session()
    token = _token(browser.get(f"{live_server}/console/login", timeout=10).text)
    answer = browser.post(f"{live_server}/console/login", allow_redirects=False, timeout=10,
                          data={"csrf_token": token, "role": "editor",
                                "username": "editor.wang", "password": PASSWORD})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    api = requests.get(f"{live_server}/api/v1/campaigns", timeout=10)
    assert "Set-Cookie" not in api.headers


def test_a_console_sign_in_and_its_open_form_survive_a_key_rotation(app, world, make_app):
    counter = app.test_client()
    token = _token(counter.get("/console/login").text)
    assert counter.post("/console/login", data={
        "csrf_token": token, "role": "pharmacy", "username": "pharmacist.a",
        "password": PASSWORD}).status_code == 302
    open_form = _token(counter.get("/console/pharmacy").text)  # signed with the old key
    cookie = counter.get_cookie("wxb_console", path="/console").value
    new_key = "rotated-secret-2026-03"
    rotated = make_app(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=app.config["SECRET_KEY"])
    dropped = make_app(SECRET_KEY=new_key)
    after, without = rotated.test_client(), dropped.test_client()
    for browser in (after, without):
        browser.set_cookie("wxb_console", cookie, path="/console")

    # The session lives on the server: no key signs it, so no rotation ends it.
    assert without.get("/console/pharmacy").status_code == 200
    assert after.get("/console/pharmacy").status_code == 200
    # The open form's CSRF token is signed: good while the old key is a fallback only.
    refused = without.post("/console/logout", data={"csrf_token": open_form})
    signed_out = after.post("/console/logout", data={"csrf_token": open_form})

    assert refused.status_code == 400
    assert signed_out.status_code == 302 and signed_out.location.endswith("/console/login")
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).where(
            AuditEntry.actor_role == "pharmacy").order_by(AuditEntry.id)).all()
    assert actions == ["sign_in", "sign_out"]


def test_a_form_without_its_csrf_token_changes_nothing(app, world, live_server):
    signed_in = _signed_in(live_server, "community")
    answer = signed_in.post(f"{live_server}/console/community/register", timeout=10, data={
        "name": "钱国强", "id_number": people.document(7_701)[1], "phone": "13812345670",
        "address": "郑州市金水区经三路8号", "promise": "on"})
    assert answer.status_code == 400
    assert "没有做任何修改" in answer.text
    with app.app_context():
        assert db.session.scalars(select(Resident).where(Resident.name == "钱国强")).all() == []
    out = signed_in.post(f"{live_server}/console/logout", allow_redirects=False, timeout=10)
    assert out.status_code == 400  # not even a sign-out without the token
    assert signed_in.get(f"{live_server}/console/community", allow_redirects=False,
                         timeout=10).status_code == 200


def test_a_pharmacist_cannot_open_another_stores_booking(
        client, world, residents, ids, live_server):
    token = residents.verified("other-store", ids(), "13600004321")
    elsewhere = _booked(client, world, token, store=1)
    mine = _signed_in(live_server, "pharmacy")
    refused = mine.get(f"{live_server}/console/pharmacy/bookings/{elsewhere['id']}", timeout=10)
    assert refused.status_code == 404
    assert elsewhere["reservation_no"] not in refused.text
    theirs = _signed_in(live_server, "pharmacy", "pharmacist.b")
    shown = theirs.get(f"{live_server}/console/pharmacy/bookings/{elsewhere['id']}", timeout=10)
    assert shown.status_code == 200 and elsewhere["reservation_no"] in shown.text


def _refusal(page: str) -> str:
    return re.search(r'<p class="notice error" role="alert">([^<]*)</p>', page).group(1)


def test_six_wrong_passwords_lock_the_account_whichever_door(client, world, sql, live_server):
    browser = requests.Session()
    token = _token(browser.get(f"{live_server}/console/login", timeout=10).text)
    messages = []
    for attempt in range(6):
        answer = browser.post(f"{live_server}/console/login", timeout=10, data={
            "csrf_token": token, "role": "pharmacy", "username": "pharmacist.a",
            "password": f"wrong password {attempt}"})
        assert answer.status_code == 401
        messages.append(_refusal(answer.text))
    # Locked or not, the answer is the same: nobody learns which accounts they locked.
    assert len(set(messages)) == 1 and "用户名或密码不正确" in messages[0]
    right = browser.post(f"{live_server}/console/login", timeout=10, data={
        "csrf_token": token, "role": "pharmacy", "username": "pharmacist.a",
        "password": PASSWORD})
    assert right.status_code == 401 and _refusal(right.text) == messages[0]
    api = client.post("/api/v1/staff/login",
                      json={"username": "pharmacist.a", "password": PASSWORD})
    assert api.status_code == 401 and api.json["error"]["code"] == "bad_credentials"
    assert api.json["error"]["message"] == messages[0]
    trail = sql("SELECT action, subject, detail->>'address' FROM audit_log "
                "WHERE actor_name = 'pharmacist.a' ORDER BY id")
    assert [row[:2] for row in trail] == (
        [("sign_in_failed", "wrong_password")] * 4 + [("account_locked", "")]
        + [("sign_in_failed", "wrong_password")] + [("sign_in_failed", "locked")] * 3)
    assert {row[2] for row in trail} == {"127.0.0.1"}
    other = _signed_in(live_server, "pharmacy", "pharmacist.b")  # others are not affected
    assert other.get(f"{live_server}/console/pharmacy", timeout=10).status_code == 200
    locked = sql("SELECT locked_until - now() FROM staff WHERE username = 'pharmacist.a'")[0][0]
    assert timedelta(minutes=14) < locked <= timedelta(minutes=15)
    # When the lock has run out, the right password works again.
    sql("UPDATE staff SET locked_until = now() - interval '1 second' "
        "WHERE username = 'pharmacist.a' RETURNING id")
    assert _signed_in(live_server, "pharmacy").get(f"{live_server}/console/pharmacy",
                                                   timeout=10).status_code == 200


def test_an_operator_uploads_stores_with_a_bad_row_then_fixes_it(app, world, live_server,
                                                                  browser, tmp_path):
    header = "name,address,district,lat,lng,daily_cap,opening_hours"
    good = ["健之佳药房(经三路店),郑州市金水区经三路66号,金水区,34.7712,113.6860,90,08:30-20:30",
            "海王星辰(大学路店),郑州市二七区大学路40号,二七区,34.7302,113.6470,,09:00-21:00"]
    bad = "一心堂(航海路店),郑州市二七区航海中路9号,二七区,北纬34度,113.6500,60,09:00-18:00"
    broken = tmp_path / "药店名单.csv"
    broken.write_bytes("\n".join([header, good[0], bad, good[1]]).encode("gbk"))
    page = _sign_in_page(browser, live_server, "operator")
    page.wait_for_url(f"{live_server}/console/operator")
    page.screenshot(path=str(SHOTS / "operator-home.png"), full_page=True)
    page.goto(f"{live_server}/console/operator/stores")
    page.select_option("select[name=campaign_id]", str(world.campaign_id))
    page.set_input_files("input[name=file]", str(broken))
    page.click("form[enctype] button.primary")
    page.wait_for_selector("#row-errors")
    # The bad row, by its line in the file (the header is line 1), and no other.
    assert page.locator("#row-errors li").all_inner_texts() == [
        "第3行：纬度/经度“北纬34度,113.6500”不是有效的坐标（应为数字，如 34.7466,113.6253）"]
    page.screenshot(path=str(SHOTS / "operator-stores-errors.png"), full_page=True)
    with app.app_context():
        names = set(db.session.scalars(select(Store.name).where(
            Store.campaign_id == world.campaign_id)))
    assert not names & {"健之佳药房(经三路店)", "海王星辰(大学路店)"}

    fixed = tmp_path / "药店名单（改）.csv"
    fixed.write_bytes("\n".join([header, good[0], bad.replace("北纬34度", "34.7400"), good[1]])
                      .encode("gbk"))
    page.select_option("select[name=campaign_id]", str(world.campaign_id))
    page.set_input_files("input[name=file]", str(fixed))
    page.click("form[enctype] button.primary")
    page.wait_for_selector("#confirm")
    assert "将新增 3 家" in page.inner_text("#checked")
    page.click("#confirm")
    page.wait_for_selector("#notice")
    assert "新增 3 家" in page.inner_text("#notice")
    page.screenshot(path=str(SHOTS / "operator-stores-done.png"), full_page=True)
    with app.app_context():
        names = set(db.session.scalars(select(Store.name).where(
            Store.campaign_id == world.campaign_id)))
        trail = db.session.scalars(select(AuditEntry.action).where(
            AuditEntry.actor_name == "operator.zhao")).all()
    assert {"健之佳药房(经三路店)", "海王星辰(大学路店)", "一心堂(航海路店)"} <= names
    assert "import_stores" in trail


def _load(base: str, campaign_id: int, tokens: list[str], store_ids: list[int],
          answers: list) -> None:
    """The load script: every resident presses 预约 at once (eight at a time), each at a
    store of their own choosing; one in ten presses twice."""
    def press(n_token):
        n, token = n_token
        with requests.Session() as client:
            for _ in range(2 if n % 10 == 0 else 1):
                answer = client.post(f"{base}/api/v1/campaigns/{campaign_id}/bookings",
                                     json={"store_id": store_ids[n * 7 % len(store_ids)]},
                                     headers=auth(token), timeout=30)
                answers.append(answer.status_code)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(press, enumerate(tokens)))


def test_an_operator_watches_a_window_sell_out_while_the_crowd_books(app, world, live_server,
                                                                       browser):
    selling = build(app, "zhengzhou", quota=60, caps=(25, 25, 25, 25))
    opening = datetime.now(timezone.utc)  # the window opens as the operator watches
    move_window(app, selling.window_id, opening, opening + timedelta(minutes=30))
    crowd = [made.token for made in residents(app, 110)]
    page = _sign_in_page(browser, live_server, "operator")
    page.wait_for_url(f"{live_server}/console/operator")
    page.click(f"a[href='/console/operator/windows/{selling.window_id}']")
    page.wait_for_selector("#window-figures[hx-trigger]")
    assert page.inner_text("#fig-left").startswith("60")
    assert "尚未约完" in page.inner_text("#fig-sold-out")

    answers: list[int] = []
    load = threading.Thread(target=_load, args=(live_server, selling.campaign_id, crowd,
                                                selling.store_ids, answers))
    load.start()
    page.wait_for_function("document.querySelector('#window-state').innerText"
                           ".includes('已约完')", timeout=60_000)
    load.join(60)
    assert answers.count(201) == 60 and len(answers) == 121
    # Every answer is counted once the processes have added theirs (a second at most).
    page.wait_for_function("document.querySelector('#fig-answered').innerText"
                           ".replace(/\\s/g, '') === '60/121'", timeout=15_000)
    assert page.inner_text("#fig-left").startswith("0")
    assert re.fullmatch(r"\d+\.\d秒", page.inner_text("#fig-sold-out").replace(" ", ""))
    assert "毫秒" in page.inner_text("#fig-p99")
    assert page.locator("svg.chart rect.ok").count() > 1
    codes = page.text_content("svg[aria-label='按结果统计的回答数']")
    assert "预约成功" in codes and "已约完" in codes and "重复预约" in codes
    page.screenshot(path=str(SHOTS / "operator-window-sold-out.png"), full_page=True)
    with app.app_context():
        booked = db.session.scalar(select(func.count()).select_from(Booking).where(
            Booking.campaign_id == selling.campaign_id))
    assert booked == 60


def test_an_operator_sees_why_messages_failed_and_sends_one_again(world, sql, live_server,
                                                                  browser):
    failed = sql("INSERT INTO deliveries (event, subject_id, campaign_id, channel, recipient, "
                 "status, attempts, last_error, failed_at, next_attempt_at) VALUES "
                 "('booking_confirmed', 1, %s, 'sms', 'idx', 'failed', 4, "
                 "'isv.MOBILE_NUMBER_ILLEGAL 手机号码格式错误', now(), now()) RETURNING id",
                 world.campaign_id)[0][0]
    page = _sign_in_page(browser, live_server, "operator")
    page.wait_for_url(f"{live_server}/console/operator")
    page.goto(f"{live_server}/console/operator/jobs")
    # Explained in Chinese, with the provider's own code beside it for support.
    assert "手机号无效（空号或格式不对）" in page.inner_text("td.reason")
    assert "isv.MOBILE_NUMBER_ILLEGAL" in page.inner_text("td.reason")
    page.screenshot(path=str(SHOTS / "operator-jobs.png"), full_page=True)
    page.check(f"input[name=delivery][value='{failed}']")
    page.click("button.primary")
    page.wait_for_selector("#notice")
    assert "已重新发送 1 条消息" in page.inner_text("#notice")
    assert sql("SELECT status, attempts FROM deliveries WHERE id = %s", failed) == [("retry", 0)]
    assert sql("SELECT action FROM audit_log WHERE actor_name = 'operator.zhao' "
               "AND action = 'retry_failed'") == [("retry_failed",)]


def test_an_operator_exports_a_couriers_orders_and_uploads_their_statuses(
        app, client, sql, live_server, browser, tmp_path):
    from tests.worlds import residents as made_residents
    from wx_backend.campaigns import manage

    qingdao = build(app, "qingdao")
    with app.app_context():
        campaign = manage.get_campaign(db.session, qingdao.campaign_id)
        result = manage.import_stores(db.session, campaign, (
            "name,address,district,lat,lng,daily_cap,opening_hours,channel\n"
            "即墨邮政局,即墨区振华街1号,即墨区,36.39,120.45,100,08:00-17:00,postal\n"), 100)
        assert not result.errors
        create_operator(db.session, "operator.sun", PASSWORD)
        db.session.commit()
        post_office = db.session.scalars(select(Store.id).where(Store.channel == "postal")).one()
    app.extensions["directory"].forget()
    (remote,) = made_residents(app, 1)
    with app.app_context():
        db.session.get(Resident, remote.id).address = "青岛市即墨区龙山街道东关村88号"
        db.session.commit()
    posted = client.post(f"/api/v1/campaigns/{qingdao.campaign_id}/bookings",
                         json={"store_id": post_office}, headers=auth(remote.token))
    assert posted.status_code == 201, posted.json
    order_id = sql("SELECT id FROM delivery_orders WHERE reservation_no = %s",
                   posted.json["reservation_no"])[0][0]

    ACCOUNTS["operator"] = "operator.sun"
    try:
        page = _sign_in_page(browser, live_server, "operator")
    finally:
        ACCOUNTS["operator"] = "operator.zhao"
    page.wait_for_url(f"{live_server}/console/operator")
    page.goto(f"{live_server}/console/operator/delivery")
    page.screenshot(path=str(SHOTS / "operator-delivery.png"), full_page=True)
    form = page.locator(f"form:has(input[name=campaign_id][value='{qingdao.campaign_id}'])")
    with page.expect_download() as download:
        form.locator("button").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert exported.startswith("订单号,预约号,配送方式,")  # one BOM, then the header
    assert posted.json["reservation_no"] in exported and str(order_id) in exported

    # A status file that declares a sheet of a million rows is refused before it is read.
    book = Workbook()
    book.active.append(["order_id", "status", "tracking_no"])
    book.active.append([order_id, "shipped", "YZ0000000001"])
    bloated = io.BytesIO()
    book.save(bloated)
    source, rewritten = zipfile.ZipFile(bloated), io.BytesIO()
    with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as made:
        for part in source.namelist():
            body = source.read(part)
            if part == "xl/worksheets/sheet1.xml":
                body = re.sub(rb'<dimension ref="[^"]+"', b'<dimension ref="A1:XFD1048576"', body)
            made.writestr(part, body)
    huge = tmp_path / "邮政回执（全表）.xlsx"
    huge.write_bytes(rewritten.getvalue())
    page.set_input_files("input[name=file]", str(huge))
    page.click("form[enctype] button.primary")
    page.wait_for_selector("#notice")
    refused = page.inner_text("#notice")
    assert "声明有 1,048,576 行、16,384 列" in refused and "复制到一个新的工作表" in refused
    page.screenshot(path=str(SHOTS / "operator-delivery-too-large.png"), full_page=True)
    assert sql("SELECT status FROM delivery_orders WHERE id = %s", order_id) == [("pending",)]

    statuses = tmp_path / "邮政回执.csv"
    statuses.write_bytes(f"order_id,status,tracking_no\n{order_id},delivered,\n".encode("gbk"))
    page.set_input_files("input[name=file]", str(statuses))
    page.click("form[enctype] button.primary")
    page.wait_for_selector("#notice")
    assert "未做任何修改" in page.inner_text("#notice")  # delivered before shipped: refused
    assert sql("SELECT status FROM delivery_orders WHERE id = %s", order_id) == [("pending",)]
    statuses.write_bytes(f"订单号,状态,运单号\n{order_id},已发货,YZ1234567890\n"
                         .encode("gbk"))
    page.set_input_files("input[name=file]", str(statuses))
    page.click("form[enctype] button.primary")
    page.wait_for_selector("#notice.ok")
    assert sql("SELECT status, tracking_no FROM delivery_orders WHERE id = %s", order_id) == [
        ("shipped", "YZ1234567890")]


def test_an_operator_commits_a_draw_runs_it_and_links_the_public_files(
        app, client, world, sql, live_server, browser):
    from tests.worlds import residents as made_residents

    fuzhou = build(app, "fuzhou", open_now=False)
    entrants = made_residents(app, 5)
    for person in entrants:
        entered = client.post(f"/api/v1/campaigns/{fuzhou.campaign_id}/entries",
                              headers=auth(person.token))
        assert entered.status_code == 201, entered.json
    page = _sign_in_page(browser, live_server, "operator")
    page.wait_for_url(f"{live_server}/console/operator")
    page.goto(f"{live_server}/console/operator/draws")
    section = page.locator(f"section:has(input[name=campaign_id][value='{fuzhou.campaign_id}'])")
    section.locator("input[name=quota]").fill("2")
    section.locator("form.row-form button").click()
    page.wait_for_selector("#notice.ok")
    draw_id = sql("SELECT id FROM draws WHERE campaign_id = %s", fuzhou.campaign_id)[0][0]
    row = page.locator(f"#draw-{draw_id}")
    cells = row.locator("td").all_inner_texts()
    assert "待摇号" in cells[1] and cells[2:4] == ["5", "2"]  # entries sealed, quota
    page.screenshot(path=str(SHOTS / "operator-draw-committed.png"), full_page=True)

    row.locator("input[name=public_value]").fill("20261130")
    row.locator("button").click()
    page.wait_for_selector("#notice.ok")
    assert "2 人中签" in page.inner_text("#notice")
    assert sql("SELECT count(*) FROM entries WHERE campaign_id = %s AND status = 'won'",
               fuzhou.campaign_id) == [(2,)]
    published = page.locator(f"#draw-{draw_id} a", has_text="result.json").get_attribute("href")
    result = requests.get(live_server + published, timeout=10)
    assert result.status_code == 200 and "20261130" in result.text
    page.screenshot(path=str(SHOTS / "operator-draw-done.png"), full_page=True)


def _still_to_close(days: int) -> int:
    """Zhengzhou's windows from today (Beijing's today) for ``days`` days that have not
    closed yet: those are the ones an operator can still plan."""
    rules = parse_rules(load_preset("zhengzhou"))
    moment = datetime.now(timezone.utc)
    today = moment.astimezone(rules.zone).date()
    return sum(1 for offset in range(days)
               for _, closes, _ in rules.spans_on(today + timedelta(days=offset))
               if closes > moment)


def test_an_operator_creates_a_campaign_from_a_preset_and_plans_its_windows(
        world, sql, live_server, browser):
    page = _sign_in_page(browser, live_server, "operator")
    page.wait_for_url(f"{live_server}/console/operator")
    page.select_option("#new-campaign select[name=preset]", "zhengzhou")
    page.fill("#new-campaign input[name=slug]", "bad slug!")
    page.click("#new-campaign button")
    page.wait_for_selector("#notice.error")
    assert "简称应为2到63个小写字母" in page.inner_text("#notice")  # in Chinese
    assert sql("SELECT count(*) FROM campaigns WHERE slug = 'bad slug!'") == [(0,)]
    page.fill("#new-campaign input[name=slug]", "zhengzhou-2027-02")
    page.fill("#new-campaign input[name=plan_days]", "2")
    page.click("#new-campaign button")
    page.wait_for_selector("#notice.ok")
    assert "zhengzhou-2027-02" in page.inner_text("#notice")
    campaign_id, = sql("SELECT id FROM campaigns WHERE slug = 'zhengzhou-2027-02'")[0]
    planned = sql("SELECT count(*) FROM windows WHERE campaign_id = %s", campaign_id)[0][0]
    assert planned == _still_to_close(2)  # Zhengzhou's two windows a day, from today
    page.locator(f"form[action$='/campaigns/{campaign_id}/windows'] button").click()
    page.wait_for_selector("#notice.ok")
    assert sql("SELECT count(*) FROM windows WHERE campaign_id = %s",
               campaign_id)[0][0] == _still_to_close(3)
    page.screenshot(path=str(SHOTS / "operator-campaigns.png"), full_page=True)
    # A second campaign from the same preset gets a name of its own.
    page.fill("#new-campaign input[name=slug]", "zhengzhou-2027-03")
    page.click("#new-campaign button")
    page.wait_for_selector("#notice.ok")
    names = [row[0] for row in sql("SELECT name FROM campaigns "
                                   "WHERE slug LIKE 'zhengzhou-2027-%%' ORDER BY id")]
    assert names == ["郑州市平价口罩预约（zhengzhou-2027-02）",
                     "郑州市平价口罩预约（zhengzhou-2027-03）"]
    page.fill("#new-campaign input[name=name]", names[0])
    page.fill("#new-campaign input[name=slug]", "zhengzhou-2027-04")
    page.click("#new-campaign button")
    page.wait_for_selector("#notice.error")
    assert "已有名为" in page.inner_text("#notice")


def test_an_operator_changes_the_rules_as_a_new_version_from_tomorrow(world, sql, live_server,
                                                                       browser):
    page = _sign_in_page(browser, live_server, "operator")
    page.wait_for_url(f"{live_server}/console/operator")
    page.click(f"a[href='/console/operator/campaigns/{world.campaign_id}']")
    form = page.locator("#rules-change")
    assert "现为 7" in form.inner_text()  # what the rules say now
    assert "（固定日期）" in form.inner_text()  # the test campaign's one window
    form.locator("input[name=cooldown_days]").fill("14")
    form.locator("textarea[name=windows]").fill("9点半到12点 8000")
    form.locator("input[name=note]").fill("货源紧张，改为每天一个时段")
    form.locator("button").click()
    page.wait_for_selector("#notice.error")
    assert "09:30-12:00" in page.inner_text("#rules-change .field-error")
    assert sql("SELECT count(*) FROM rules_versions WHERE campaign_id = %s",
               world.campaign_id) == [(1,)]

    tomorrow = (datetime.now(BEIJING) + timedelta(days=1)).date()
    form.locator("textarea[name=windows]").fill("10:00-12:00 8000")
    form.locator("input[name=effective_at]").fill(f"{tomorrow.isoformat()}T00:00")
    form.locator("button").click()
    page.wait_for_selector("#notice.ok")
    assert "第 2 版" in page.inner_text("#notice")
    assert "待生效" in page.inner_text("#versions")
    page.screenshot(path=str(SHOTS / "operator-rules.png"), full_page=True)
    rules, = sql("SELECT rules FROM rules_versions WHERE campaign_id = %s AND version = 2",
                 world.campaign_id)[0]
    assert rules["limit"]["cooldown_days"] == 14 and rules["portion"]["items"] == 10
    assert rules["windows"] == [{"opens": "10:00", "closes": "12:00", "quota": 8000}]
    opening = sql("SELECT opens_at FROM windows WHERE campaign_id = %s "
                  "AND (opens_at AT TIME ZONE 'Asia/Shanghai')::date = %s",
                  world.campaign_id, tomorrow)
    assert [row[0].astimezone(BEIJING).strftime("%H:%M") for row in opening] == ["10:00"]
    shown = requests.get(f"{live_server}/api/v1/campaigns/{world.campaign_id}", timeout=10).json()
    assert shown["rules_version"] == 1  # in force only from tomorrow


def test_an_editor_publishes_a_rules_change_the_api_and_the_bot_then_show(
        app, client, world, live_server, browser):
    from tests.official import OfficialAccount

    page = _sign_in_page(browser, live_server, "editor")
    page.wait_for_url(f"{live_server}/console/editor")
    page.goto(f"{live_server}/console/editor/new")
    page.fill("input[name=title]", "预约规则调整")
    page.fill("textarea[name=body]", "自3月2日起，每人每次5只，14天内不能再次预约。")
    page.select_option("select[name=campaign_id]", str(world.campaign_id))
    page.fill("input[name=items]", "5")
    page.fill("input[name=cooldown_days]", "十四")
    page.click("button.primary")
    page.wait_for_selector(".notice.error")  # not a number: nothing saved
    page.fill("input[name=cooldown_days]", "14")
    page.click("button.primary")
    page.wait_for_url(re.compile(r".*/console/editor/\d+/preview$"))
    assert "7天内不能再次预约" in page.inner_text("#rules-before")
    assert "14天内不能再次预约" in page.inner_text("#rules-after")
    assert "【预约规则调整】" in page.inner_text("#bot-reply")
    # A rules change waits for an operator: no publish button yet, and a word saying so.
    assert page.locator("#awaiting-approval").is_visible()
    assert page.locator("#publish").count() == 0
    page.screenshot(path=str(SHOTS / "editor-preview.png"), full_page=True)
    before = client.get(f"/api/v1/campaigns/{world.campaign_id}").json
    assert before["rules_version"] == 1

    # new_page opens a context of its own: the operator's session is not the editor's.
    desk = _sign_in_page(browser, live_server, "operator")
    desk.wait_for_url(f"{live_server}/console/operator")
    desk.click("text=规则审批")
    assert "14天内不能再次预约" in desk.inner_text("main")
    desk.screenshot(path=str(SHOTS / "operator-approvals.png"), full_page=True)
    desk.click("text=批准这项规则调整")
    desk.wait_for_selector("#none-waiting")
    assert "已批准" in desk.inner_text("main")
    page.reload()
    assert "由运营人员批准" in page.inner_text("#approved")
    page.click("#publish")
    page.wait_for_selector("#notice.ok")
    campaign = client.get(f"/api/v1/campaigns/{world.campaign_id}").json
    assert campaign["rules_version"] == 2
    assert campaign["rules"]["portion"]["items"] == 5
    assert "14天内不能再次预约" in campaign["summary"]
    reply = OfficialAccount(app, client).say("console-reader", "规则").content
    assert "规则第2版" in reply
    page.screenshot(path=str(SHOTS / "editor-published.png"), full_page=True)


def test_an_editor_tries_a_question_adds_an_answer_and_the_bot_uses_it(
        app, client, world, live_server, browser):
    from tests.official import OfficialAccount

    page = _sign_in_page(browser, live_server, "editor")
    page.wait_for_url(f"{live_server}/console/editor")
    page.goto(f"{live_server}/console/editor/faq")
    page.fill("#try input[name=text]", "老人没有智能手机怎么预约口罩")
    page.click("#try button")
    page.wait_for_selector("#try-answer")
    first = page.inner_text("#try-answer")
    # The seeded answer for older residents, picked with confidence.
    assert "会直接回答：老人没有智能手机怎么预约？" in first
    page.screenshot(path=str(SHOTS / "editor-faq-try.png"), full_page=True)

    page.fill("#faq-form input[name=key]", "pharmacy_wheelchair")
    page.fill("#faq-form input[name=question]", "药店有无障碍通道吗")
    page.fill("#faq-form textarea[name=answer]",
              "各药店门口均设有无障碍坡道，行动不便可请工作人员到门口协助。")
    page.fill("#faq-form textarea[name=phrasings]", "坐轮椅能进药店吗\n轮椅可以进去吗")
    page.fill("#faq-form input[name=keywords]", "轮椅、无障碍")
    page.click("#faq-form button")
    page.wait_for_selector("#notice.ok")
    page.fill("#try input[name=text]", "坐轮椅的老人能进药店吗")
    page.click("#try button")
    page.wait_for_function("document.querySelector('#try-answer')"
                           " && document.querySelector('#try-answer').innerText.includes('无障碍')")
    reply = OfficialAccount(app, client).say("wheelchair-user", "坐轮椅能进药店吗").content
    assert "无障碍坡道" in reply


def test_the_rules_form_reads_windows_and_districts_as_a_notice_writes_them():
    assert patch_from({"windows": "9:30-12:00 10000\n\n14:00至17:00 5000份", "items": " ",
                       "districts": "金水区、二七区，中原区", "cooldown_days": "3"}) == {
        "windows": [{"opens": "09:30", "closes": "12:00", "quota": 10000},
                    {"opens": "14:00", "closes": "17:00", "quota": 5000}],
        "eligibility": {"districts": ["金水区", "二七区", "中原区"]},
        "limit": {"cooldown_days": 3}}
    assert patch_from({"districts": "不限", "unit_price_yuan": "0.8"}) == {
        "eligibility": {"districts": []}, "portion": {"unit_price_fen": 80}}
    assert patch_from({"items": "", "windows": "  "}) is None
    for bad, field in [({"items": "-1"}, "items"), ({"cooldown_days": "七"}, "cooldown_days"),
                       ({"windows": "上午九点半 10000"}, "windows")]:
        with pytest.raises(DomainError) as refused:
            patch_from(bad)
        assert field in refused.value.fields


def test_an_operator_finds_stores_takes_one_off_and_reads_the_records(
        app, client, world, residents, ids, live_server, browser):
    token = residents.verified("listed-one", ids(), "13600007777", name="孙建国")
    booked = _booked(client, world, token, store=1)
    page = _sign_in_page(browser, live_server, "operator")
    page.wait_for_url(f"{live_server}/console/operator")
    page.click("text=药店")
    page.fill("#find input[name=q]", "花园路2号")
    page.click("#find button")
    page.wait_for_selector("#count")
    assert page.locator("#stores tbody tr").count() == 1
    with app.app_context():
        taken_off = db.session.get(Store, world.store_ids[1])
    assert taken_off.name in page.inner_text("#stores")
    page.click(f"#store-{taken_off.id} button")
    page.wait_for_selector("#notice.ok")
    assert "已下线" in page.inner_text("#notice")
    page.screenshot(path=str(SHOTS / "operator-store-list.png"), full_page=True)
    # Residents can no longer choose it; the booking made there stays good.
    listed = client.get(f"/api/v1/campaigns/{world.campaign_id}/stores?limit=50").json
    assert taken_off.id not in [s["id"] for s in listed["stores"]]
    refused = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                          json={"store_id": taken_off.id},
                          headers=auth(residents.verified("too-late", ids(), "13600008888")))
    assert refused.status_code in (404, 409)
    with app.app_context():
        assert db.session.get(Booking, booked["id"]).status == "confirmed"

    page.click("text=公示名单")
    page.wait_for_selector("#public-lines")
    page.fill("#find input[name=q]", booked["reservation_no"])
    page.click("#find button")
    page.wait_for_selector("#public-lines")
    line = page.inner_text("#public-lines tbody")
    assert booked["reservation_no"] in line and "孙*国" in line
    page.screenshot(path=str(SHOTS / "operator-public-list.png"), full_page=True)

    page.click("text=操作记录")
    page.select_option("#find select[name=action]", "deactivate_store")
    page.click("#find button")
    page.wait_for_selector("#audit")
    rows = page.locator("#audit tbody tr").all_inner_texts()
    assert len(rows) == 1 and "药店下线" in rows[0] and "operator.zhao" in rows[0]
    assert f"药店 #{taken_off.id}" in rows[0]
    page.screenshot(path=str(SHOTS / "operator-audit.png"), full_page=True)
