"""The Shanghai queue from the staff's side, in Chromium: households register in the
mini-program's API, the committee approves them in the console, the pharmacy enters the
day's supply (a preview of who gets a voucher, then a confirmation), the holders are told,
and the counter takes a voucher. And the same action through the JSON staff API and the
console leaves the same audit entry and sends the same messages."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.official import run_jobs
from tests.test_console import SHOTS
from tests.test_queue import PASSWORD, households, register
from wx_backend.dev import people
from wx_backend.extensions import db
from wx_backend.models import AuditEntry, Delivery, Entry, Resident


def _console(browser, base, username):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page.goto(f"{base}/console/login")
    page.select_option("select[name=role]",
                       "pharmacy" if username.startswith("pharmacy") else "community")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def test_supply_to_voucher_through_the_console(app, client, queue_world, live_server,
                                               browser, sql):
    people = households(app, 3)
    made = [register(client, queue_world, person) for person in people]
    assert [m.status_code for m in made] == [201, 201, 201]
    numbers = sorted(m.json["reservation_no"] for m in made)

    committee = _console(browser, live_server, "jinshui.c")
    committee.wait_for_url(f"{live_server}/console/community")
    committee.click("text=本辖区待审核的登记")
    committee.wait_for_selector("table")
    first = committee.locator("tbody tr").first
    first.locator("button.danger").click()  # a rejection without its reason
    first.locator("[id^=review-] .notice").wait_for()
    assert "原因" in first.inner_text() and first.locator("input[name=reason]").count() == 1
    for _ in range(3):
        committee.locator("tbody tr button.primary").first.click()
        committee.wait_for_timeout(0)
        committee.locator("tbody tr td:last-child .notice.ok").nth(_).wait_for()
    assert sql("SELECT count(*) FROM entries WHERE status = 'approved'") == [(3,)]

    counter = _console(browser, live_server, "pharmacy.0")
    counter.wait_for_url(f"{live_server}/console/pharmacy")
    counter.click("text=到货发放凭证")
    assert counter.inner_text("#waiting") == "3"
    counter.fill("#supply input[name=units]", "2")
    counter.click("#supply button")
    counter.wait_for_selector("#preview")
    assert all(n in counter.inner_text("#preview") for n in numbers[:2])
    assert numbers[2] not in counter.inner_text("#preview")
    assert sql("SELECT count(*) FROM entries WHERE status = 'released'") == [(0,)]  # not yet
    counter.screenshot(path=str(SHOTS / "pharmacy-queue-preview.png"), full_page=True)
    counter.once("dialog", lambda dialog: dialog.accept())
    counter.click("#release")
    counter.wait_for_selector("#notice.ok")
    assert counter.inner_text("#released") == "2" and counter.inner_text("#waiting") == "1"
    counter.screenshot(path=str(SHOTS / "pharmacy-queue-released.png"), full_page=True)

    run_jobs(app)
    texts = [m["text"] for m in client.get("/dev/outbox").json["sms"] if "凭证码" in m["text"]]
    assert len(texts) == 2
    with app.app_context():
        entry = db.session.scalars(select(Entry).where(
            Entry.reservation_no == numbers[0])).one()
        holder = db.session.get(Resident, entry.resident_id)
        code, last4 = entry.voucher_code, holder.id_number[-4:]

    counter.click("text=凭证核销")
    counter.wait_for_function("document.activeElement.name === 'voucher_code'")
    counter.keyboard.type(code)
    counter.keyboard.press("Enter")
    counter.keyboard.type("0000" if last4 != "0000" else "1111")
    counter.keyboard.press("Enter")
    counter.wait_for_selector("#voucher-refused")
    assert counter.input_value("input[name=voucher_code]") == code  # kept as typed
    counter.fill("input[name=id_last4]", last4)
    counter.click("#voucher button")
    counter.wait_for_selector("#voucher-ok")
    assert numbers[0] in counter.inner_text("#voucher-ok")
    counter.screenshot(path=str(SHOTS / "pharmacy-voucher-ok.png"), full_page=True)
    assert sql("SELECT status FROM entries WHERE reservation_no = %s", numbers[0]) == [
        ("redeemed",)]


def test_the_api_and_the_console_leave_the_same_trail(app, client, queue_world,
                                                      live_server, browser, sql):
    people = households(app, 4)
    for person in people:
        assert register(client, queue_world, person).status_code == 201
    with app.app_context():
        ids = sorted(db.session.scalars(select(Entry.id)))
    for entry_id in ids:
        assert client.post(f"/api/v1/community/registrations/{entry_id}/review",
                           headers=queue_world["committee"],
                           json={"approve": True}).status_code == 200
    by_api = client.post("/api/v1/staff/supply", headers=queue_world["pharmacy"],
                         json={"units": 2})
    assert by_api.status_code == 200
    counter = _console(browser, live_server, "pharmacy.0")
    counter.goto(f"{live_server}/console/pharmacy/queue")
    counter.fill("#supply input[name=units]", "2")
    counter.click("#supply button")
    counter.once("dialog", lambda dialog: dialog.accept())
    counter.click("#release")
    counter.wait_for_selector("#notice.ok")
    run_jobs(app)

    with app.app_context():
        released = db.session.scalars(select(Entry).where(Entry.status == "released")
                                      .order_by(Entry.reservation_no)).all()
        trail = db.session.scalars(select(AuditEntry).where(
            AuditEntry.action == "release_vouchers").order_by(AuditEntry.id)).all()
        told = db.session.execute(select(Delivery.subject_id, Delivery.channel).where(
            Delivery.event == "voucher_released")).all()
    assert len(released) == 4
    # One entry per release, whichever door: the same action, actor and detail.
    assert [(t.actor_name, t.action, t.detail) for t in trail] == [
        ("pharmacy.0", "release_vouchers", {"units": 2, "released": 2})] * 2
    # And every holder told the same way (an SMS each), whichever door released them.
    assert sorted(subject for subject, channel in told if channel == "sms") == sorted(
        e.id for e in released)


def test_the_committee_registers_a_household_without_a_phone(app, queue_world, live_server,
                                                            browser, sql):
    committee = _console(browser, live_server, "jinshui.c")
    committee.wait_for_url(f"{live_server}/console/community")
    committee.goto(f"{live_server}/console/community/register")
    committee.fill("input[name=name]", "钱桂芳")
    committee.fill("input[name=id_number]", people.document(7_733)[1])
    committee.fill("input[name=phone]", "15912345670")
    committee.fill("input[name=address]", "郑州市金水区经三路21号2栋301")
    committee.check("input[name=promise]")
    committee.click("button.primary.big")
    committee.wait_for_url(re.compile(r".*/console/community/residents/\d+$"))
    form = committee.locator(f"#queue-{queue_world['campaign']}")
    form.locator("button").click()  # no pharmacy chosen: refused, nothing registered
    committee.wait_for_selector("#notice.error")
    assert sql("SELECT count(*) FROM entries") == [(0,)]
    form = committee.locator(f"#queue-{queue_world['campaign']}")
    form.locator("select[name=store_id]").select_option(str(queue_world["stores"][1]))
    form.locator("button").click()
    committee.wait_for_selector("#notice.ok")
    assert "排队登记" in committee.inner_text("#notice")
    committee.screenshot(path=str(SHOTS / "community-queue-registered.png"), full_page=True)
    assert sql("SELECT status, store_id FROM entries") == [("pending", queue_world["stores"][1])]
    assert sql("SELECT action FROM assisted_actions ORDER BY id") == [("register",), ("enter",)]


def test_a_district_with_many_registrations_reviews_them_a_page_at_a_time(
        app, client, queue_world):
    """Fifty a page, the search keeping its campaign across the pages, and a reservation
    number or a street finding the one registration the resident at the desk asks about."""
    people = households(app, 53)
    numbers = sorted(register(client, queue_world, person).json["reservation_no"]
                     for person in people)
    committee = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      committee.get("/console/login").text).group(1)
    assert committee.post("/console/login", data={
        "csrf_token": token, "role": "community", "username": "jinshui.c",
        "password": PASSWORD}).status_code == 302
    listing = f"/console/community/registrations?campaign_id={queue_world['campaign']}"

    def shown(html: str) -> list[str]:
        return [n for n in numbers if f"<td>{n}</td>" in html]

    first = committee.get(listing).text
    assert "共 53 条待审核" in first and "第 1 / 2 页" in first
    assert shown(first) == numbers[:50]
    following = re.search(r'href="([^"]+)">下一页', first).group(1).replace("&amp;", "&")
    second = committee.get(following).text
    assert shown(second) == numbers[50:] and "上一页" in second and "下一页" not in second
    assert shown(committee.get(f"{listing}&q={numbers[51]}").text) == [numbers[51]]
    assert len(shown(committee.get(f"{listing}&q=经三路7号").text)) == 1
    nothing = committee.get(f"{listing}&q=长宁路").text
    assert shown(nothing) == [] and "没有符合“长宁路”的待审核登记" in nothing
    assert shown(committee.get(f"{listing}&page=abc").text) == numbers[:50]
