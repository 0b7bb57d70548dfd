"""The official account's webhook and chat-bot, spoken to as WeChat does (wechatpy signs and
encrypts every message), with jobs run in-process and WeChat's side played by the fake."""

from __future__ import annotations

import re
import time

import pytest
import requests

from tests.official import OfficialAccount, event_xml, run_jobs, signature, text_xml
from tests.worlds import auth, build
from wx_backend.dev.fakes.wechat_api import openid_for
from wx_backend.extensions import db
from wx_backend.models import Follower, KnowledgeEntry


@pytest.fixture
def account(app, client):
    return OfficialAccount(app, client)


@pytest.fixture
def safe_account(app, client):
    return OfficialAccount(app, client, encrypted=True)


def official_openid(app, name: str) -> str:
    return openid_for(app.config["WECHAT_OFFICIAL_APPID"], name)


def faq_answer(app, key: str) -> str:
    with app.app_context():
        return db.session.scalars(db.select(KnowledgeEntry.answer)
                                  .where(KnowledgeEntry.key == key)).one()


def follower_row(app, openid: str) -> Follower | None:
    with app.app_context():
        row = db.session.get(Follower, openid)
        if row is not None:
            db.session.expunge(row)
        return row


def fake_messages(fake_wechat, kind: str, touser: str | None = None) -> list[dict]:
    query = {"kind": kind, **({"touser": touser} if touser else {})}
    return requests.get(fake_wechat.base_url + "fake/messages", params=query,
                        timeout=5).json()["messages"]


# -- transport ------------------------------------------------------------------------------

def test_url_verification_echoes_echostr_only_for_our_signature(client, account):
    query = {**account.params(), "echostr": "8041659216354927"}
    assert client.get("/wechat/official", query_string=query).data == b"8041659216354927"

    query["signature"] = "0" * 40
    refused = client.get("/wechat/official", query_string=query)
    assert refused.status_code == 403
    assert b"8041659216354927" not in refused.data


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "safe"])
def test_a_text_message_is_answered_in_both_modes(account, encrypted):
    answer = account.say("o-someone", "帮助", encrypted=encrypted)

    assert answer.status == 200
    assert "查询" in answer.content and "规则" in answer.content
    if encrypted:
        assert b"<Encrypt>" in answer.body and "查询".encode() not in answer.body


def test_safe_mode_refuses_plain_messages(make_app, fake_wechat):
    app = make_app(WECHAT_OFFICIAL_MODE="safe")
    account = OfficialAccount(app, app.test_client())

    assert account.say("o-plain", "帮助").status == 403
    assert account.say("o-plain", "帮助", encrypted=True).content


def test_a_forged_signature_is_refused_and_changes_nothing(app, client, account):
    query = account.params()
    query["signature"] = signature("not-our-token", query["timestamp"], query["nonce"])
    answer = client.post("/wechat/official", query_string=query,
                         data=event_xml("o-forger", "subscribe"))

    assert answer.status_code == 403
    assert follower_row(app, "o-forger") is None
    assert account.event("o-forger", "subscribe").status == 200
    assert follower_row(app, "o-forger").subscribed


def test_a_wrong_message_signature_in_safe_mode_is_refused(client, safe_account):
    xml = text_xml("o-x", "订阅公告", 77)
    query = safe_account.params()
    import xmltodict

    wrapped = xmltodict.parse(safe_account.crypto.encrypt_message(
        xml, query["nonce"], query["timestamp"]))["xml"]
    query.update(encrypt_type="aes", msg_signature="0" * 40)
    body = f"<xml><Encrypt><![CDATA[{wrapped['Encrypt']}]]></Encrypt></xml>"
    assert client.post("/wechat/official", query_string=query, data=body).status_code == 403


def test_a_stale_timestamp_is_refused(app, account):
    stale = str(int(time.time()) - 6 * 60)
    answer = account.post(event_xml("o-late", "subscribe"), timestamp=stale)

    assert answer.status == 403
    assert follower_row(app, "o-late") is None


def test_a_reused_nonce_is_refused_even_for_a_new_message(app, account):
    first = account.say("o-replay", "帮助", nonce="sameNonce123")
    replayed = account.say("o-replay", "订阅公告", nonce="sameNonce123")

    assert first.status == 200
    assert replayed.status == 403
    row = follower_row(app, "o-replay")
    assert row is None or not row.wants_announcements


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "safe"])
def test_doctype_and_entities_are_refused(app, account, encrypted):
    laughs = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;">]>'
              "<xml><ToUserName>gh</ToUserName><FromUserName>o-xxe</FromUserName>"
              "<CreateTime>1</CreateTime><MsgType>event</MsgType>"
              "<Event>subscribe</Event><Content>&b;</Content></xml>")
    external = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY f SYSTEM "file:///etc/passwd">]>'
                "<xml><FromUserName>o-xxe</FromUserName><MsgType>text</MsgType>"
                "<Content>&f;</Content><MsgId>5</MsgId></xml>")

    for payload in (laughs, external):
        answer = account.post(payload, encrypted=encrypted)
        assert answer.status == 400
        assert b"root:" not in answer.body
    assert follower_row(app, "o-xxe") is None


def test_declarations_typed_as_text_are_not_mistaken_for_markup(account):
    typed = text_xml("o-coder", "", 4711).replace(
        "<Content></Content>", "<Content><![CDATA[<!DOCTYPE html> 帮助]]></Content>")
    assert account.post(typed).status == 200
    assert account.post(typed.replace("<MsgId>4711", "<!-- a comment --><MsgId>4712")
                        ).status == 200


def test_a_body_that_is_not_utf8_is_refused(account):
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?>'
             + text_xml("o-16", "帮助", 4713)).encode("utf-16")
    answer = account.post(utf16)
    assert answer.status == 400 and b"UTF-8" in answer.body


def test_an_oversized_body_is_refused_before_it_is_read(app, account):
    huge = text_xml("o-big", "问" * 20000, 99)

    answer = account.post(huge)

    assert answer.status == 413
    assert follower_row(app, "o-big") is None


@pytest.mark.parametrize("body", ["not xml at all", "<xml><Unclosed></xml>",
                                  "<xml><FromUserName>o</FromUserName></xml>", ""])
def test_malformed_messages_get_a_clear_400(account, body):
    answer = account.post(body)
    assert answer.status == 400
    assert answer.body.strip()


def test_a_retried_message_id_is_answered_once(app, account, redis_client):
    openid = official_openid(app, "nobody-yet")
    first = account.say(openid, "查询", msg_id=424242)
    retry = account.say(openid, "查询", msg_id=424242)

    assert first.content and "查询" in first.content
    assert retry.status == 200 and retry.body == b"success"
    with app.app_context():
        from wx_backend import jobs
        assert len(jobs.queue("notify").get_job_ids()) == 1


def test_a_retried_event_is_handled_once(app, account):
    openid = official_openid(app, "twice")
    xml = event_xml(openid, "subscribe", created=1700000000)
    assert account.post(xml).content
    assert account.post(xml).body == b"success"


# -- the FAQ ------------------------------------------------------------------------------

@pytest.mark.parametrize("key, phrasings", [
    ("how_to_book", ["怎么预约口罩", "请问口罩在哪里预约啊？", "口罩怎么预越"]),
    ("no_sms", ["预约成功了没收到短信", "没有收到短信怎么办！！", "短信一直没收到"]),
    ("delegate_pickup", ["可以让别人帮我领吗", "家人能代领口罩吗", "代领可以吗"]),
    ("non_local", ["外地人可以预约吗", "不是本地户口能约吗", "非本市户籍可以买口罩吗"]),
])
def test_faq_questions_phrased_several_ways_get_the_right_answer(app, account, key, phrasings):
    expected = faq_answer(app, key)
    for phrasing in phrasings:
        assert account.say("o-asker", phrasing).content == expected, phrasing


def test_an_unsure_question_offers_choices_and_a_number_picks_one(app, account):
    offered = account.say("o-vague", "口罩")
    assert "您是想问" in offered.content
    choices = [line for line in offered.content.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert 2 <= len(choices) <= 3

    picked = account.say("o-vague", "1")
    with app.app_context():
        question = choices[0][3:].strip()
        expected = db.session.scalars(db.select(KnowledgeEntry.answer)
                                      .where(KnowledgeEntry.question == question)).one()
    assert picked.content == expected


def test_off_topic_text_gets_the_help_text(account):
    answer = account.say("o-chat", "今天天气怎么样")
    assert "没有找到" in answer.content and "查询" in answer.content


def test_images_and_voice_get_a_helpful_fallback(account):
    xml = ("<xml><ToUserName>gh</ToUserName><FromUserName>o-pic</FromUserName>"
           "<CreateTime>1</CreateTime><MsgType>image</MsgType>"
           "<PicUrl>http://x/y.jpg</PicUrl><MediaId>m</MediaId><MsgId>31337</MsgId></xml>")
    assert "文字" in account.post(xml).content


# -- status, linking and binding ------------------------------------------------------------

def booked(app, client, who: str, id_number: str, phone: str):
    """A verified resident ``who`` with one booking; answers (booking, token, world)."""
    from tests.conftest import Residents

    world = build(app)
    token = Residents(client).verified(who, id_number, phone)
    made = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                       json={"store_id": world.store_ids[0]}, headers=auth(token))
    assert made.status_code == 201, made.json
    return made.json, token, world


def test_a_follower_sharing_the_unionid_sees_their_booking(app, client, account, ids):
    booking, _, _ = booked(app, client, "alice", ids(), "13800000001")
    openid = official_openid(app, "alice")

    welcome = account.event(openid, "subscribe")
    assert "感谢关注" in welcome.content and "规则" in welcome.content
    run_jobs(app)
    assert follower_row(app, openid).linked_by == "unionid"

    status = account.say(openid, "查询")
    assert booking["reservation_no"] in status.content
    assert "待取货" in status.content
    assert booking["pickup_code"] not in status.content
    assert booking["pickup_code"][:2] + "****" in status.content


def test_status_for_a_follower_not_yet_looked_up_comes_as_a_customer_message(
        app, client, account, fake_wechat, ids):
    booking, _, _ = booked(app, client, "carol", ids(), "13800000003")
    openid = official_openid(app, "carol")

    first = account.say(openid, "我的预约")
    assert "正在查询" in first.content
    run_jobs(app)

    sent = fake_messages(fake_wechat, "custom", openid)
    assert len(sent) == 1
    assert booking["reservation_no"] in sent[0]["body"]["text"]["content"]


def test_binding_by_phone_id_tail_and_sms_code(app, client, account, ids, redis_client):
    id_number = ids()
    booking, _, _ = booked(app, client, "dave", id_number, "13800000004")
    # Binding happens days after registering: the one-code-a-minute guard has long expired.
    redis_client.delete(*redis_client.keys("smscode-resend:*"))
    openid = "o-dave-elsewhere"  # no unionid shared: the fake does not know this follower

    assert "手机号" in account.say(openid, "绑定").content
    assert "身份证号后6位" in account.say(openid, "13800000004").content
    asked = account.say(openid, id_number[-6:])
    assert "尾号0004" in asked.content
    run_jobs(app)
    texts = [m["text"] for m in client.get("/dev/outbox",
                                           query_string={"phone": "13800000004"}).json["sms"]]
    code = re.search(r"验证码为(\d{6})", next(t for t in texts if "验证码" in t)).group(1)

    wrong = "000000" if code != "000000" else "111111"
    refused = account.say(openid, wrong)
    assert "验证码不正确" in refused.content and "4次" in refused.content
    assert follower_row(app, openid).resident_id is None

    done = account.say(openid, code)
    assert "绑定成功" in done.content and booking["reservation_no"] in done.content
    assert follower_row(app, openid).linked_by == "binding"
    assert booking["reservation_no"] in account.say(openid, "查询").content


def test_binding_with_a_wrong_id_tail_fails_clearly_and_sends_no_code(app, client, account,
                                                                    ids, sql):
    booked(app, client, "erin", ids(), "13800000005")
    openid = "o-erin-elsewhere"
    codes = "SELECT count(*) FROM sms_outbox WHERE template = 'verification_code'"
    sent_before = sql(codes)[0][0]

    account.say(openid, "绑定")
    account.say(openid, "13800000005")
    answer = account.say(openid, "99999X")

    assert "不一致" in answer.content
    run_jobs(app)
    assert sql(codes)[0][0] == sent_before
    assert "退出" in account.say(openid, "退出").content
    assert follower_row(app, openid).resident_id is None


def test_binding_ends_after_too_many_wrong_answers(app, account):
    openid = "o-guesser"
    account.say(openid, "绑定")
    for _ in range(4):
        assert "格式不正确" in account.say(openid, "12345").content
    assert "错误次数太多" in account.say(openid, "12345").content
    # the conversation is over: the next text is an ordinary question again
    assert "没有找到" in account.say(openid, "12345").content


def test_starting_again_does_not_reset_the_days_tries(app, client, account, ids, sql):
    id_number = ids()
    booked(app, client, "walker", id_number, "13800000008")
    openid = "o-walker"
    codes = "SELECT count(*) FROM sms_outbox WHERE template = 'verification_code'"
    sent_before = sql(codes)[0][0]
    answers = []
    for guess in range(12):  # walking phones, restarting whenever the bot gives up
        started = account.say(openid, "绑定").content
        if "明天" in started:
            answers.append(started)
            continue
        account.say(openid, f"1590000{guess:04d}")
        answers.append(account.say(openid, f"{guess:05d}1").content)
        account.say(openid, "退出")  # and start afresh, as if the count began again

    assert all("不一致" in answer for answer in answers[:9]), answers
    assert all("明天" in answer for answer in answers[9:])
    # Even the right phone and ID tail wait for tomorrow now, and no code was sent.
    assert "明天" in account.say(openid, "绑定").content
    run_jobs(app)
    assert sql(codes)[0][0] == sent_before


# -- events and the menu --------------------------------------------------------------------

def test_unsubscribe_stops_pushes_and_menu_clicks_answer(app, client, account, ids):
    booking, _, _ = booked(app, client, "frank", ids(), "13800000006")
    openid = official_openid(app, "frank")
    account.event(openid, "subscribe")
    run_jobs(app)
    account.say(openid, "订阅公告")
    assert follower_row(app, openid).wants_announcements

    assert booking["reservation_no"] in account.event(openid, "CLICK", "MY_BOOKING").content
    assert "规则第1版" in account.event(openid, "CLICK", "RULES").content
    assert "没有公告" in account.event(openid, "CLICK", "LATEST_ANNOUNCEMENT").content

    gone = account.event(openid, "unsubscribe")
    assert gone.body == b"success"
    row = follower_row(app, openid)
    assert not row.subscribed and not row.wants_announcements and row.unsubscribed_at


def test_the_menu_command_sets_the_menu_through_wechat(app, fake_wechat):
    result = app.test_cli_runner().invoke(args=["official-account", "menu"])
    assert result.exit_code == 0, result.output

    shown = app.test_cli_runner().invoke(args=["official-account", "menu", "--show"])
    assert "MY_BOOKING" in shown.output and "LATEST_ANNOUNCEMENT" in shown.output
    assert app.config["WECHAT_MINIPROGRAM_APPID"] in shown.output


def test_a_follower_who_came_first_is_linked_when_the_resident_logs_in(app, client, account,
                                                                       ids):
    openid = official_openid(app, "gina")
    requests.post(app.config["WECHAT_API_BASE_URL"] + "fake/users", json={"name": "gina"},
                  timeout=5)
    account.event(openid, "subscribe")
    run_jobs(app)
    assert follower_row(app, openid).resident_id is None

    booking, _, _ = booked(app, client, "gina", ids(), "13800000007")

    assert follower_row(app, openid).linked_by == "unionid"
    assert booking["reservation_no"] in account.say(openid, "查询").content


def test_a_binding_code_that_cannot_be_sent_is_explained_by_message(app, client, account,
                                                                    fake_wechat, ids):
    id_number = ids()
    booked(app, client, "hank", id_number, "13800000008")  # a code went out a moment ago
    openid = "o-hank-elsewhere"
    account.say(openid, "绑定")
    account.say(openid, "13800000008")
    account.say(openid, id_number[-6:])
    run_jobs(app)

    told = fake_messages(fake_wechat, "custom", openid)
    assert len(told) == 1
    assert "验证码未能发送" in told[0]["body"]["text"]["content"]
