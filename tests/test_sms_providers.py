"""The Aliyun and Tencent SMS backends, through the official SDKs, against the local fakes.

Nothing is mocked: each sender is built with ``from_config`` and talks HTTP to a fake that
speaks the provider's protocol (signatures included). No database is needed.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from flask import Flask

from wx_backend.config import ConfigError
from wx_backend.dev.fakes.sms_providers import (
    FakeAliyunSms,
    FakeTencentSms,
    aliyun_template_codes,
    tencent_template_codes,
)
from wx_backend.sms import SmsMessage, SmsSendError, init_app
from wx_backend.sms.aliyun import AliyunSender
from wx_backend.sms.templates import TEMPLATES, render_text
from wx_backend.sms.tencent import TencentSender

SIGN = "口罩预约"


@pytest.fixture(scope="module")
def aliyun_fake():
    server = FakeAliyunSms().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tencent_fake():
    server = FakeTencentSms().start()
    yield server
    server.stop()


class Control:
    """The fake's /fake/ endpoints."""

    def __init__(self, server):
        self.url = server.base_url + "/fake/"

    def messages(self, phone: str | None = None) -> list[dict]:
        params = {"phone": phone} if phone else None
        return requests.get(self.url + "messages", params=params, timeout=5).json()["messages"]

    def stats(self) -> dict:
        return requests.get(self.url + "stats", timeout=5).json()

    def post(self, path: str, body: dict | None = None) -> None:
        requests.post(self.url + path, json=body or {}, timeout=5).raise_for_status()


def aliyun_config(server: FakeAliyunSms, **overrides) -> dict:
    return {"ALIYUN_SMS_ACCESS_KEY_ID": server.access_key_id,
            "ALIYUN_SMS_ACCESS_KEY_SECRET": server.access_key_secret,
            "ALIYUN_SMS_ENDPOINT": server.base_url, "SMS_SIGN_NAME": SIGN,
            "SMS_TEMPLATE_CODES": json.dumps(aliyun_template_codes()), "SMS_TIMEOUT": 2,
            **overrides}


def tencent_config(server: FakeTencentSms, **overrides) -> dict:
    return {"TENCENT_SMS_SECRET_ID": server.secret_id,
            "TENCENT_SMS_SECRET_KEY": server.secret_key,
            "TENCENT_SMS_SDK_APP_ID": server.sdk_app_id,
            "TENCENT_SMS_ENDPOINT": server.base_url, "SMS_SIGN_NAME": SIGN,
            "SMS_TEMPLATE_CODES": json.dumps(tencent_template_codes()), "SMS_TIMEOUT": 2,
            **overrides}


@pytest.fixture
def aliyun(aliyun_fake):
    control = Control(aliyun_fake)
    control.post("reset")
    sender = AliyunSender.from_config(aliyun_config(aliyun_fake))
    yield sender, control
    sender.close()


@pytest.fixture
def tencent(tencent_fake):
    control = Control(tencent_fake)
    control.post("reset")
    sender = TencentSender.from_config(tencent_config(tencent_fake))
    yield sender, control
    sender.close()


def phone(n: int) -> str:
    return f"1380013{n:04d}"


def booking(n: int, batch: str = "batch-1", **overrides) -> SmsMessage:
    """A personalised booking confirmation for phone(n)."""
    params = {"store": f"第{n}药店", "reservation": f"R{n:05d}", "pickup_code": f"{n:04d}",
              "pickup_window": "3月2日 9:00-12:00"}
    fields = {"key": f"delivery-{batch}-{n}", "batch": batch, "phone": phone(n),
              "template": "booking_confirmed", "params": params,
              "text": render_text(TEMPLATES["booking_confirmed"], params), **overrides}
    return SmsMessage(**fields)


def draw_lost(n: int, batch: str = "batch-1") -> SmsMessage:
    """The same text for everyone: only the phone differs."""
    params = {"campaign": "第3期口罩"}
    return SmsMessage(key=f"lost-{batch}-{n}", batch=batch, phone=phone(n),
                      template="draw_lost", params=params,
                      text=render_text(TEMPLATES["draw_lost"], params))


def minute_ago() -> datetime:
    return datetime.now(timezone.utc) - timedelta(minutes=1)


# --- Aliyun -----------------------------------------------------------------------------

def test_aliyun_batch_delivers_personalised_messages_in_one_call(aliyun):
    sender, control = aliyun
    messages = [booking(n) for n in range(5)]

    outcomes = sender.send_batch(messages)

    assert [o.key for o in outcomes] == [m.key for m in messages]
    assert all(o.ok and o.message_id for o in outcomes)
    assert control.stats()["calls"] == {"SendBatchSms": 1}
    received = control.messages(phone(3))
    assert len(received) == 1
    assert received[0]["params"] == dict(messages[3].params)
    assert received[0]["out_id"] == "batch-1"
    assert received[0]["content"] == f"【{SIGN}】{messages[3].text}"


def test_aliyun_batch_makes_one_call_per_template_code_and_keeps_order(aliyun):
    sender, control = aliyun
    messages = [booking(0), draw_lost(1), booking(2), draw_lost(3), booking(4)]

    outcomes = sender.send_batch(messages)

    assert [o.key for o in outcomes] == [m.key for m in messages]
    assert all(o.ok for o in outcomes)
    assert control.stats()["calls"] == {"SendBatchSms": 2}
    assert {m["template_code"] for m in control.messages()} == {
        aliyun_template_codes()["booking_confirmed"], aliyun_template_codes()["draw_lost"]}


def test_aliyun_invalid_number_fails_only_its_message(aliyun):
    sender, control = aliyun
    control.post("reject", {"phones": [phone(3)]})
    messages = [booking(0), booking(1, phone="1380013"), booking(2), booking(3), booking(4)]

    outcomes = sender.send_batch(messages)

    assert [o.ok for o in outcomes] == [True, False, True, False, True]
    for refused in (outcomes[1], outcomes[3]):
        assert not refused.retryable
        assert "isv.MOBILE_NUMBER_ILLEGAL" in refused.error
    assert sorted(m["phone"] for m in control.messages()) == [phone(0), phone(2), phone(4)]


def test_aliyun_one_numbers_rate_limit_is_retried_for_that_message_only(aliyun):
    sender, control = aliyun
    control.post("reject", {"phones": [phone(1)], "code": "isv.BUSINESS_LIMIT_CONTROL"})

    outcomes = sender.send_batch([booking(n) for n in range(3)])

    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].retryable and "isv.BUSINESS_LIMIT_CONTROL" in outcomes[1].error


def test_aliyun_http_500_is_retryable_for_the_whole_batch(aliyun):
    sender, control = aliyun
    control.post("faults", {"times": 1, "http_status": 500})

    with pytest.raises(SmsSendError) as raised:
        sender.send_batch([booking(n) for n in range(3)])

    assert raised.value.retryable
    assert control.messages() == []


@pytest.mark.parametrize("code", ["Throttling.User", "isv.DAY_LIMIT_CONTROL"])
def test_aliyun_throttled_account_is_retryable(aliyun, code):
    sender, control = aliyun
    control.post("faults", {"times": 5, "code": code})

    with pytest.raises(SmsSendError) as raised:
        sender.send_batch([booking(0), booking(1), draw_lost(2)])
    assert raised.value.retryable and code in raised.value.reason
    assert control.stats()["send_calls"] == 1, "the rest of the batch is held back"

    with pytest.raises(SmsSendError) as raised:
        sender.send(phone(9), "verification_code", {"code": "123456", "minutes": 5})
    assert raised.value.retryable


def test_aliyun_unknown_template_code_gives_up_those_messages(aliyun):
    sender, control = aliyun
    messages = [booking(0, provider_template="SMS_000404"),
                booking(1, provider_template="SMS_000404"), draw_lost(2)]

    outcomes = sender.send_batch(messages)

    assert [o.ok for o in outcomes] == [False, False, True]
    assert not outcomes[0].retryable
    assert "isv.SMS_TEMPLATE_ILLEGAL" in outcomes[0].error
    assert "SMS_TEMPLATE_CODES" in outcomes[0].error


@pytest.mark.parametrize("setting, value, code", [
    ("ALIYUN_SMS_ACCESS_KEY_SECRET", "not-the-secret", "SignatureDoesNotMatch"),
    ("ALIYUN_SMS_ACCESS_KEY_ID", "LTAI5tSomeoneElse", "InvalidAccessKeyId.NotFound"),
])
def test_aliyun_wrong_credentials_give_up_with_a_clear_reason(aliyun, aliyun_fake,
                                                              setting, value, code):
    _, control = aliyun
    sender = AliyunSender.from_config(aliyun_config(aliyun_fake, **{setting: value}))

    outcomes = sender.send_batch([booking(0), booking(1), draw_lost(2)])

    for outcome in outcomes:
        assert not outcome.ok and not outcome.retryable
        assert code in outcome.error and "ALIYUN_SMS_ACCESS_KEY_ID" in outcome.error
    assert control.stats()["calls"] == {"SendBatchSms": 1}, "the account is not asked twice"
    with pytest.raises(SmsSendError) as raised:
        sender.send(phone(0), "verification_code", {"code": "123456", "minutes": 5})
    assert not raised.value.retryable and code in raised.value.reason
    assert control.messages() == []


def test_aliyun_template_without_code_gives_up_naming_the_setting(aliyun, aliyun_fake):
    _, control = aliyun
    codes = {"booking_confirmed": aliyun_template_codes()["booking_confirmed"]}
    sender = AliyunSender.from_config(aliyun_config(aliyun_fake,
                                                    SMS_TEMPLATE_CODES=json.dumps(codes)))

    outcomes = sender.send_batch([draw_lost(0), booking(1)])

    assert not outcomes[0].ok and not outcomes[0].retryable
    assert "SMS_TEMPLATE_CODES" in outcomes[0].error and "draw_lost" in outcomes[0].error
    assert outcomes[1].ok
    with pytest.raises(SmsSendError) as raised:
        sender.send(phone(0), "verification_code", {"code": "123456", "minutes": 5})
    assert not raised.value.retryable and "SMS_TEMPLATE_CODES" in raised.value.reason


def test_aliyun_send_one_message(aliyun):
    sender, control = aliyun

    result = sender.send(phone(7), "verification_code", {"code": "493021", "minutes": 5})

    assert result.provider == "aliyun" and result.message_id
    [received] = control.messages(phone(7))
    assert "493021" in received["content"] and received["out_id"] is None
    with pytest.raises(SmsSendError) as raised:
        sender.send("2380013000", "verification_code", {"code": "1", "minutes": 5})
    assert not raised.value.retryable and "isv.MOBILE_NUMBER_ILLEGAL" in raised.value.reason


def test_aliyun_accepted_matches_phone_and_batch(aliyun):
    sender, _ = aliyun
    sender.send_batch([booking(0, batch="batch-A"), booking(1, batch="batch-A")])
    sender.send_batch([booking(2, batch="batch-B")])
    asked = [booking(0, batch="batch-A"), booking(1, batch="batch-A"),
             booking(2, batch="batch-A"), booking(3, batch="batch-A")]

    found = sender.accepted(asked, minute_ago())

    assert set(found) == {asked[0].key, asked[1].key}
    assert all(found.values())


def test_aliyun_accepted_reads_every_page_of_a_busy_phone(aliyun):
    sender, control = aliyun
    for n in range(55):
        sender.send_batch([booking(0, batch=f"batch-{n}")])
    assert len(control.messages(phone(0))) == 55

    found = sender.accepted([booking(0, batch="batch-0"), booking(0, batch="batch-54")],
                            minute_ago())

    assert set(found) == {booking(0, batch="batch-0").key, booking(0, batch="batch-54").key}


def test_aliyun_message_accepted_while_the_caller_timed_out_is_found(aliyun, aliyun_fake):
    _, control = aliyun
    sender = AliyunSender.from_config(aliyun_config(aliyun_fake, SMS_TIMEOUT=0.5))
    messages = [booking(n, batch="batch-T") for n in range(3)]
    control.post("latency", {"seconds": 1.5})
    try:
        with pytest.raises(SmsSendError) as raised:
            sender.send_batch(messages)
        assert raised.value.retryable
        assert set(sender.accepted(messages, minute_ago())) == {m.key for m in messages}
    finally:
        sender.close()


# --- Tencent ----------------------------------------------------------------------------

def test_tencent_personalised_messages_go_one_request_each(tencent):
    sender, control = tencent
    messages = [booking(n) for n in range(6)]

    outcomes = sender.send_batch(messages)

    assert [o.key for o in outcomes] == [m.key for m in messages]
    assert all(o.ok for o in outcomes)
    assert len({o.message_id for o in outcomes}) == 6
    assert control.stats()["calls"] == {"SendSms": 6}
    [received] = control.messages(phone(4))
    assert received["phone_number"] == "+86" + phone(4)
    assert received["params"] == ["第4药店", "R00004", "0004", "3月2日 9:00-12:00"]
    assert received["session_context"] == "batch-1"
    assert received["content"] == f"【{SIGN}】{messages[4].text}"


def test_tencent_identical_messages_share_one_request(tencent):
    sender, control = tencent
    messages = [draw_lost(n) for n in range(5)] + [booking(5), booking(6)]

    outcomes = sender.send_batch(messages)

    assert all(o.ok for o in outcomes)
    assert control.stats()["calls"] == {"SendSms": 3}
    assert len(control.messages()) == 7


def test_tencent_many_personalised_messages_are_sent_concurrently(tencent):
    sender, control = tencent
    control.post("latency", {"seconds": 0.2})
    messages = [booking(n) for n in range(32)]

    started = time.monotonic()
    outcomes = sender.send_batch(messages)
    elapsed = time.monotonic() - started

    assert all(o.ok for o in outcomes)
    assert elapsed < 3, f"32 requests of 0.2 s took {elapsed:.1f} s"


def test_tencent_refused_numbers_fail_only_their_messages(tencent):
    sender, control = tencent
    control.post("reject", {"phones": [phone(1)]})
    control.post("reject", {"phones": [phone(3)], "code": "LimitExceeded.PhoneNumberDailyLimit"})
    messages = [draw_lost(n) for n in range(4)] + [booking(4, phone="1380013")]

    outcomes = sender.send_batch(messages)

    assert [o.ok for o in outcomes] == [True, False, True, False, False]
    assert "FailedOperation.PhoneNumberInBlacklist" in outcomes[1].error
    assert not outcomes[1].retryable
    assert "LimitExceeded.PhoneNumberDailyLimit" in outcomes[3].error and outcomes[3].retryable
    assert "InvalidParameterValue.IncorrectPhoneNumber" in outcomes[4].error
    assert not outcomes[4].retryable
    assert sorted(m["phone"] for m in control.messages()) == [phone(0), phone(2)]


def test_tencent_http_500_is_retryable_for_the_whole_batch(tencent):
    sender, control = tencent
    control.post("faults", {"times": 1, "http_status": 500})

    with pytest.raises(SmsSendError) as raised:
        sender.send_batch([booking(n) for n in range(4)])

    assert raised.value.retryable


def test_tencent_throttled_account_is_retryable(tencent):
    sender, control = tencent
    control.post("faults", {"times": 50, "code": "RequestLimitExceeded"})

    with pytest.raises(SmsSendError) as raised:
        sender.send_batch([booking(n) for n in range(4)])
    assert raised.value.retryable and "RequestLimitExceeded" in raised.value.reason

    with pytest.raises(SmsSendError) as raised:
        sender.send(phone(9), "verification_code", {"code": "123456", "minutes": 5})
    assert raised.value.retryable
    assert control.messages() == []


def test_tencent_unapproved_template_gives_up_those_messages(tencent):
    sender, _ = tencent
    messages = [booking(0, provider_template="999999"), draw_lost(1)]

    outcomes = sender.send_batch(messages)

    assert [o.ok for o in outcomes] == [False, True]
    assert not outcomes[0].retryable
    assert "FailedOperation.TemplateIncorrectOrUnapproved" in outcomes[0].error


@pytest.mark.parametrize("setting, value, code", [
    ("TENCENT_SMS_SECRET_KEY", "not-the-key", "AuthFailure.SignatureFailure"),
    ("TENCENT_SMS_SECRET_ID", "AKIDSomeoneElse", "AuthFailure.SecretIdNotFound"),
    ("TENCENT_SMS_SDK_APP_ID", "1400999999", "InvalidParameterValue.SdkAppIdNotExist"),
])
def test_tencent_wrong_credentials_give_up_with_a_clear_reason(tencent, tencent_fake,
                                                               setting, value, code):
    _, control = tencent
    sender = TencentSender.from_config(tencent_config(tencent_fake, **{setting: value}))
    try:
        outcomes = sender.send_batch([booking(0), booking(1)])
        for outcome in outcomes:
            assert not outcome.ok and not outcome.retryable
            assert code in outcome.error and "TENCENT_SMS_SECRET_ID" in outcome.error
        with pytest.raises(SmsSendError) as raised:
            sender.send(phone(0), "verification_code", {"code": "123456", "minutes": 5})
        assert not raised.value.retryable and code in raised.value.reason
    finally:
        sender.close()
    assert control.messages() == []


def test_tencent_template_without_code_gives_up_naming_the_setting(tencent, tencent_fake):
    codes = {"draw_lost": tencent_template_codes()["draw_lost"]}
    sender = TencentSender.from_config(tencent_config(tencent_fake,
                                                      SMS_TEMPLATE_CODES=json.dumps(codes)))
    try:
        outcomes = sender.send_batch([booking(0), draw_lost(1)])
    finally:
        sender.close()

    assert not outcomes[0].ok and not outcomes[0].retryable
    assert "SMS_TEMPLATE_CODES" in outcomes[0].error and "booking_confirmed" in outcomes[0].error
    assert outcomes[1].ok


def test_tencent_send_one_message(tencent):
    sender, control = tencent

    result = sender.send(phone(7), "verification_code", {"minutes": 5, "code": "493021"})

    assert result.provider == "tencent" and result.message_id.startswith("2028:")
    [received] = control.messages(phone(7))
    assert received["params"] == ["493021", "5"], "positional, in the template's order"
    with pytest.raises(SmsSendError) as raised:
        sender.send("2380013000", "verification_code", {"code": "1", "minutes": 5})
    assert not raised.value.retryable


def test_tencent_accepted_matches_phone_and_batch(tencent):
    sender, _ = tencent
    sent = sender.send_batch([booking(0, batch="batch-A"), draw_lost(1, batch="batch-A")])
    sender.send_batch([booking(2, batch="batch-B")])
    asked = [booking(0, batch="batch-A"), draw_lost(1, batch="batch-A"),
             booking(2, batch="batch-A"), booking(3, batch="batch-A")]

    found = sender.accepted(asked, minute_ago())

    assert found == {asked[0].key: sent[0].message_id, asked[1].key: sent[1].message_id}


def test_tencent_message_accepted_while_the_caller_timed_out_is_found(tencent, tencent_fake):
    _, control = tencent
    sender = TencentSender.from_config(tencent_config(tencent_fake, SMS_TIMEOUT=0.5))
    messages = [booking(n, batch="batch-T") for n in range(3)]
    control.post("latency", {"seconds": 1.5})
    try:
        with pytest.raises(SmsSendError) as raised:
            sender.send_batch(messages)
        assert raised.value.retryable
        assert set(sender.accepted(messages, minute_ago())) == {m.key for m in messages}
    finally:
        sender.close()


# --- settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, named", [
    ({"SMS_TEMPLATE_CODES": "{booking_confirmed: SMS_1}"}, "SMS_TEMPLATE_CODES"),
    ({"SMS_TEMPLATE_CODES": '["SMS_1"]'}, "SMS_TEMPLATE_CODES"),
    ({"SMS_TEMPLATE_CODES": '{"booking_confirmed": ""}'}, "booking_confirmed"),
    ({"ALIYUN_SMS_ACCESS_KEY_SECRET": None}, "ALIYUN_SMS_ACCESS_KEY_SECRET"),
    ({"ALIYUN_SMS_ACCESS_KEY_ID": "", "ALIYUN_SMS_ACCESS_KEY_SECRET": ""},
     "ALIYUN_SMS_ACCESS_KEY_ID, ALIYUN_SMS_ACCESS_KEY_SECRET"),
    ({"ALIYUN_SMS_ENDPOINT": "ftp://127.0.0.1:8801"}, "ALIYUN_SMS_ENDPOINT"),
    ({"ALIYUN_SMS_ENDPOINT": "http://127.0.0.1:8801/api"}, "ALIYUN_SMS_ENDPOINT"),
    ({"SMS_TIMEOUT": "soon"}, "SMS_TIMEOUT"),
    ({"SMS_TIMEOUT": 0}, "SMS_TIMEOUT"),
])
def test_aliyun_settings_are_checked(aliyun_fake, overrides, named):
    with pytest.raises(ConfigError, match=named):
        AliyunSender.from_config(aliyun_config(aliyun_fake, **overrides))


@pytest.mark.parametrize("overrides, named", [
    ({"TENCENT_SMS_SDK_APP_ID": None}, "TENCENT_SMS_SDK_APP_ID"),
    ({"TENCENT_SMS_SECRET_KEY": " "}, "TENCENT_SMS_SECRET_KEY"),
    ({"SMS_TEMPLATE_CODES": "not json"}, "SMS_TEMPLATE_CODES"),
    ({"TENCENT_SMS_ENDPOINT": "sms.tencentcloudapi.com/v3"}, "TENCENT_SMS_ENDPOINT"),
])
def test_tencent_settings_are_checked(tencent_fake, overrides, named):
    with pytest.raises(ConfigError, match=named):
        TencentSender.from_config(tencent_config(tencent_fake, **overrides))


def test_init_app_builds_the_configured_provider(aliyun_fake, tencent_fake):
    app = Flask(__name__)
    app.config.update(SMS_BACKEND="aliyun", **aliyun_config(aliyun_fake))
    init_app(app)
    sender = app.extensions["sms_sender"]
    assert isinstance(sender, AliyunSender)
    sender.close()

    app = Flask(__name__)
    app.config.update(SMS_BACKEND="tencent", **tencent_config(tencent_fake))
    init_app(app)
    sender = app.extensions["sms_sender"]
    assert isinstance(sender, TencentSender)
    sender.close()
