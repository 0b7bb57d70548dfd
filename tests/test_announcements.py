"""Editors' announcements and rules changes, end to end: the admin API, the mini-program
API, the chat-bot and the pushes (seen in the fake WeChat server's record)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.official import OfficialAccount, run_jobs
from tests.worlds import approve_rules, auth, build
from wx_backend.dev.fakes.wechat_api import openid_for
from wx_backend.extensions import db
from wx_backend.identity.accounts import create_editor, create_operator
from wx_backend.jobs import schedule, tasks
from wx_backend.models import Announcement, RulesVersion

RULES_CHANGE = {"limit": {"cooldown_days": 14}, "portion": {"items": 5}}


def now() -> datetime:
    return datetime.now(timezone.utc)


@pytest.fixture
def editor(app, client) -> dict:
    with app.app_context():
        create_editor(db.session, "editor.li", "a long enough password")
        db.session.commit()
    answer = client.post("/api/v1/admin/login",
                         json={"username": "editor.li", "password": "a long enough password"})
    assert answer.status_code == 200, answer.json
    return auth(answer.json["token"])


@pytest.fixture
def account(app, client):
    return OfficialAccount(app, client)


def draft(client, editor, approved=True, **fields):
    """A draft through the editors' API; a rules change in it approved by an operator
    (the domain call the operator's console page makes) unless ``approved`` is False."""
    body = {"title": "预约规则调整", "body": "自3月2日起，每人每次5只，14天内不能再次预约。",
            **fields}
    answer = client.post("/api/v1/admin/announcements", json=body, headers=editor)
    assert answer.status_code == 201, answer.json
    if approved and "rules" in fields:
        approve_rules(client.application, answer.json["id"])
    return answer.json


def fake_messages(fake_wechat, kind: str) -> list[dict]:
    return requests.get(fake_wechat.base_url + "fake/messages", params={"kind": kind},
                        timeout=5).json()["messages"]


def test_a_rules_change_reaches_the_api_the_bot_and_the_pushes(
        app, client, editor, account, residents, ids, fake_wechat):
    world = build(app)
    holder = residents.verified("holder", ids(), "13900000001")
    assert client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                       json={"store_id": world.store_ids[0], "rules_version": 1},
                       headers=auth(holder)).status_code == 201
    assert client.post("/api/v1/me/subscriptions", json={"accepted": ["announcement"]},
                       headers=auth(holder)).status_code == 200
    reader = openid_for(app.config["WECHAT_OFFICIAL_APPID"], "reader")
    account.say(reader, "订阅公告")
    run_jobs(app)
    requests.delete(fake_wechat.base_url + "fake/messages", timeout=5)

    made = draft(client, editor, campaign_id=world.campaign_id, rules=RULES_CHANGE)
    assert client.get("/api/v1/announcements").json["announcements"] == []
    preview = client.get(f"/api/v1/admin/announcements/{made['id']}/preview",
                         headers=editor).json
    assert "14天内不能再次预约" in preview["rules"]["new_summary"]
    assert "7天内" in preview["rules"]["current_summary"]
    assert preview["reach"] == {"followers": 1, "residents": 1}

    published = client.post(f"/api/v1/admin/announcements/{made['id']}/publish",
                            headers=editor)
    assert published.status_code == 200, published.json
    assert published.json["rules_version"] == 2

    listed = client.get("/api/v1/announcements").json["announcements"]
    assert [(a["title"], a["rules_version"]) for a in listed] == [("预约规则调整", 2)]
    campaign = client.get(f"/api/v1/campaigns/{world.campaign_id}").json
    assert campaign["rules_version"] == 2
    assert campaign["rules"]["portion"]["items"] == 5
    assert "预约规则调整" in account.say(reader, "公告").content
    assert "规则第2版" in account.say(reader, "规则").content

    run_jobs(app)
    templates = fake_messages(fake_wechat, "template")
    assert [m["touser"] for m in templates] == [reader]
    assert templates[0]["body"]["data"]["keyword1"]["value"] == "预约规则调整"
    subscribes = fake_messages(fake_wechat, "subscribe")
    assert [m["touser"] for m in subscribes] == [
        openid_for(app.config["WECHAT_MINIPROGRAM_APPID"], "holder")]
    run_jobs(app)
    assert len(fake_messages(fake_wechat, "template")) == 1  # sent once, even if re-run

    latecomer = residents.verified("latecomer", ids(), "13900000002")
    refused = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                          json={"store_id": world.store_ids[0], "rules_version": 1},
                          headers=auth(latecomer))
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "rules_changed"
    assert refused.json["error"]["rules_version"] == 2
    assert "14天" in refused.json["error"]["summary"]
    by_header = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                            json={"store_id": world.store_ids[0]},
                            headers={**auth(latecomer), "X-Rules-Version": "1"})
    assert by_header.json["error"]["code"] == "rules_changed"
    accepted = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                           json={"store_id": world.store_ids[0], "rules_version": 2},
                           headers=auth(latecomer))
    assert accepted.status_code == 201, accepted.json
    assert accepted.json["rules_version"] == 2


def test_a_scheduled_change_waits_for_its_moment_and_can_be_withdrawn(app, client, editor):
    world = build(app)
    made = draft(client, editor, campaign_id=world.campaign_id, rules=RULES_CHANGE)
    later = (now() + timedelta(hours=1)).isoformat()

    scheduled = client.post(f"/api/v1/admin/announcements/{made['id']}/schedule",
                            json={"publish_at": later}, headers=editor)
    assert scheduled.status_code == 200, scheduled.json
    assert scheduled.json["status"] == "scheduled" and not scheduled.json["visible"]
    assert client.get("/api/v1/announcements").json["announcements"] == []
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}").json["rules_version"] == 1
    edit = client.put(f"/api/v1/admin/announcements/{made['id']}", json={"title": "x"},
                      headers=editor)
    assert edit.status_code == 409

    retracted = client.post(f"/api/v1/admin/announcements/{made['id']}/retract",
                            json={"reason": "规则尚未定稿"}, headers=editor)
    assert retracted.status_code == 200
    assert retracted.json["rules_remain_in_force"] is False
    with app.app_context():
        versions = db.session.scalars(db.select(RulesVersion.version).where(
            RulesVersion.campaign_id == world.campaign_id)).all()
    assert versions == [1]


def test_the_worker_publishes_a_scheduled_announcement_at_its_moment(app, client, editor,
                                                                    account, fake_wechat):
    world = build(app)
    reader = "o-reader"
    account.say(reader, "订阅公告")
    made = draft(client, editor, campaign_id=world.campaign_id, rules=RULES_CHANGE)
    moment = now() + timedelta(seconds=1)
    assert client.post(f"/api/v1/admin/announcements/{made['id']}/schedule",
                       json={"publish_at": moment.isoformat()},
                       headers=editor).status_code == 200
    with app.app_context():
        plans = schedule.planned(moment - timedelta(minutes=1), moment + timedelta(minutes=1))
    assert [(p.key, p.task) for p in plans if p.task == "publish_announcement"] == [
        (f"announcement:{made['id']}", "publish_announcement")]

    while now() < moment:
        pass
    # Visible and in force at its moment, before any job ran.
    assert [a["id"] for a in client.get("/api/v1/announcements").json["announcements"]] == [
        made["id"]]
    app.extensions["directory"].forget()
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}").json["rules_version"] == 2

    with app.app_context():
        assert tasks.HANDLERS["publish_announcement"](made["id"])["emitted"] == 1
        assert tasks.HANDLERS["publish_announcement"](made["id"]) == {
            "skipped": "not scheduled for now"}
        assert db.session.get(Announcement, made["id"]).status == "published"
    run_jobs(app)
    assert [m["touser"] for m in fake_messages(fake_wechat, "template")] == [reader]


def test_a_general_announcement_without_push_reaches_nobody_by_message(
        app, client, editor, account, fake_wechat):
    account.say("o-reader", "订阅公告")
    made = draft(client, editor, title="关于假冒预约链接的提醒", body="请只通过官方小程序预约。",
                 push=False)
    assert client.post(f"/api/v1/admin/announcements/{made['id']}/publish",
                       headers=editor).status_code == 200
    run_jobs(app)
    assert fake_messages(fake_wechat, "template") == []
    assert client.get("/api/v1/announcements").json["announcements"][0]["campaign_id"] is None


# -- bad input --------------------------------------------------------------------------------

def test_the_admin_api_needs_an_editor_token(client, residents):
    assert client.get("/api/v1/admin/announcements").status_code == 401
    resident = residents.login("not-an-editor")
    assert client.get("/api/v1/admin/announcements",
                      headers=auth(resident)).status_code == 401
    wrong = client.post("/api/v1/admin/login", json={"username": "editor.li", "password": "x"})
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "bad_credentials"


@pytest.mark.parametrize("body, field", [
    ({"body": "正文"}, "title"),
    ({"title": "标", "body": ""}, "body"),
    ({"title": "标" * 65, "body": "正文"}, "title"),
    ({"title": "标", "body": "正文", "rules": {"limit": {"cooldown_days": 7}}}, "campaign_id"),
    ({"title": "标", "body": "正文", "campaign_id": "one"}, "campaign_id"),
    ({"title": "标", "body": "正文", "push": "yes"}, "push"),
])
def test_bad_announcements_are_refused_and_nothing_is_stored(app, client, editor, body, field):
    answer = client.post("/api/v1/admin/announcements", json=body, headers=editor)
    assert answer.status_code == 422, answer.json
    assert field in answer.json["error"]["fields"]
    assert client.get("/api/v1/admin/announcements", headers=editor).json[
        "announcements"] == []


def test_invalid_rules_in_an_announcement_are_refused(app, client, editor):
    world = build(app)
    answer = client.post("/api/v1/admin/announcements", headers=editor, json={
        "title": "标", "body": "正文", "campaign_id": world.campaign_id,
        "rules": {"limit": {"cooldown_days": -1}}})
    # A patch is judged merged with the campaign's rules in force: a conflict with them.
    assert (answer.status_code, answer.json["error"]["code"]) == (409, "rules_invalid")
    assert "cooldown_days" in answer.json["error"]["message"]
    no_campaign = client.post("/api/v1/admin/announcements", headers=editor, json={
        "title": "标", "body": "正文", "rules": {"limit": {"cooldown_days": 3}}})
    assert no_campaign.status_code == 422
    assert "campaign_id" in no_campaign.json["error"]["fields"]
    # JSONB cannot hold a NUL, however deep: the contract says so, and so does the answer.
    for rules in ({"limit\u0000": 1}, {"delivery": {"area": ["越秀区\u0000"]}}):
        nul = client.post("/api/v1/admin/announcements", headers=editor, json={
            "title": "标", "body": "正文", "campaign_id": world.campaign_id, "rules": rules})
        assert nul.status_code == 422 and "rules" in nul.json["error"]["fields"], rules
    missing = client.post("/api/v1/admin/announcements", headers=editor, json={
        "title": "标", "body": "正文", "campaign_id": 999999})
    assert missing.status_code == 404


def test_publishing_states_are_guarded(app, client, editor):
    made = draft(client, editor)
    url = f"/api/v1/admin/announcements/{made['id']}"
    for moment, status, code in (("2020-01-01T00:00:00+08:00", 409, "publish_at_past"),
                                 ("2099-01-01T00:00:00+08:00", 409, "publish_at_too_far"),
                                 ("tomorrow", 422, "invalid_input"),
                                 ("2099-01-01T00:00:00", 422, "invalid_input")):  # no offset
        refused = client.post(url + "/schedule", json={"publish_at": moment}, headers=editor)
        assert (refused.status_code, refused.json["error"]["code"]) == (status, code), moment
    assert client.post(url + "/publish", headers=editor).status_code == 200
    assert client.post(url + "/publish", headers=editor).status_code == 409
    assert client.post(url + "/retract", json={}, headers=editor).status_code == 422
    assert client.post(url + "/retract", json={"reason": "发错了"},
                       headers=editor).status_code == 200
    assert client.get("/api/v1/announcements").json["announcements"] == []
    assert client.post(url + "/retract", json={"reason": "again"},
                       headers=editor).status_code == 409
    assert client.post("/api/v1/admin/announcements/999/publish",
                       headers=editor).status_code == 404
    not_json = client.post("/api/v1/admin/announcements", data="not json", headers=editor)
    assert not_json.status_code == 422 and "title" in not_json.json["error"]["fields"]
    assert client.get("/api/v1/announcements?campaign_id=abc").status_code == 422


# -- the FAQ --------------------------------------------------------------------------------

def test_editors_change_the_faq_and_the_bot_follows(app, client, editor, account):
    question = "疫苗接种点在哪里查询"
    assert account.say("o-q", question).content != "接种点名单见“健康城市”公众号。"

    made = client.post("/api/v1/admin/faq", headers=editor, json={
        "key": "vaccine_sites", "question": "疫苗接种点在哪里？",
        "phrasings": ["疫苗接种点在哪里查询", "哪里可以打疫苗"], "keywords": ["疫苗"],
        "answer": "接种点名单见“健康城市”公众号。"})
    assert made.status_code == 201, made.json
    assert account.say("o-q", question).content == "接种点名单见“健康城市”公众号。"

    hidden = client.put("/api/v1/admin/faq/vaccine_sites", headers=editor,
                        json={"active": False})
    assert hidden.status_code == 200
    assert account.say("o-q", question).content != "接种点名单见“健康城市”公众号。"

    assert client.post("/api/v1/admin/faq", headers=editor,
                       json={"key": "Bad Key", "question": "q", "answer": "a"}
                       ).status_code == 422
    assert client.put("/api/v1/admin/faq/nope", headers=editor,
                      json={"answer": "a"}).status_code == 404
    assert client.delete("/api/v1/admin/faq/vaccine_sites", headers=editor).status_code == 200
    tried = client.post("/api/v1/admin/faq-try", headers=editor, json={"text": "怎么预约口罩"})
    assert tried.json["answer"] == "how_to_book"


def test_an_editors_rules_change_waits_for_an_operators_approval(app, client, editor,
                                                                live_server, sql):
    world = build(app)
    with app.app_context():
        create_operator(db.session, "operator.zhou", "a long enough password")
        db.session.commit()
    made = draft(client, editor, approved=False, campaign_id=world.campaign_id,
                 rules=RULES_CHANGE)
    url = f"/api/v1/admin/announcements/{made['id']}"

    for step, body in (("/publish", None), ("/schedule",
                                            {"publish_at": (now() + timedelta(hours=2))
                                             .isoformat()})):
        refused = client.post(url + step, json=body, headers=editor)
        assert refused.status_code == 409 and refused.json["error"]["code"] == "rules_not_approved"
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}").json["rules_version"] == 1

    operator = requests.Session()
    page = operator.get(f"{live_server}/console/login", timeout=10).text
    signed = operator.post(f"{live_server}/console/login", timeout=10, data={
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        "role": "operator", "username": "operator.zhou", "password": "a long enough password"})
    assert signed.status_code == 200
    waiting = operator.get(f"{live_server}/console/operator/approvals", timeout=10).text
    assert f'id="approval-{made["id"]}"' in waiting and "14天内不能再次预约" in waiting
    token = re.search(r'name="csrf_token" value="([^"]+)"', waiting).group(1)
    approved = operator.post(
        f"{live_server}/console/operator/approvals/{made['id']}/approve", timeout=10,
        data={"csrf_token": token})
    assert approved.status_code == 200 and "已批准" in approved.text
    assert "没有待批准的规则调整" in approved.text

    # An edit of the rules after the approval needs a new one; a title edit does not.
    retitled = client.put(url, json={"title": "预约规则调整（修订）"}, headers=editor)
    assert retitled.status_code == 200
    assert client.get(url, headers=editor).json["rules_approved_at"] is not None
    changed = client.put(url, json={"rules": {"limit": {"cooldown_days": 10}}}, headers=editor)
    assert changed.status_code == 200 and changed.json["rules_approved_at"] is None
    assert client.post(url + "/publish", headers=editor).status_code == 409
    again = operator.post(f"{live_server}/console/operator/approvals/{made['id']}/approve",
                          timeout=10, data={"csrf_token": token})
    assert again.status_code == 200
    published = client.post(url + "/publish", headers=editor)
    assert published.status_code == 200, published.json
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}").json["rules_version"] == 2

    trail = sql("SELECT actor_role, actor_name, action FROM audit_log "
                "WHERE action IN ('propose_rules', 'approve_rules') ORDER BY id")
    assert trail == [("editor", "editor.li", "propose_rules"),
                     ("operator", "operator.zhou", "approve_rules"),
                     ("editor", "editor.li", "propose_rules"),
                     ("operator", "operator.zhou", "approve_rules")]
