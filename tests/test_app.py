"""The app as a whole: factory, configuration, the error envelope, the spec, dev tools."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest

from wx_backend import ConfigError, create_app


def test_importing_the_package_connects_nothing():
    script = ("import wx_backend, wx_backend.cli.main, wx_backend.models, wx_backend.dev,"
              " wx_backend.miniprogram_api, wx_backend.sms.codes; print('ok')")
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
           "REDIS_URL": "redis://127.0.0.1:1/0", "PATH": "/usr/bin:/bin"}

    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_production_without_secrets_names_what_is_missing(base_config):
    config = {**base_config, "WXB_MODE": "production", "PII_KEY": None, "SECRET_KEY": None}

    with pytest.raises(ConfigError) as error:
        create_app(config)

    assert "PII_KEY" in str(error.value) and "SECRET_KEY" in str(error.value)


def test_malformed_pii_key_is_a_config_error(base_config):
    with pytest.raises(ConfigError, match="PII_KEY"):
        create_app({**base_config, "PII_KEY": "k1:short"})


def test_environment_mode_guess():
    from wx_backend.config import Config

    assert Config({}).WXB_MODE == "development"
    assert Config({"DATABASE_URL": "postgresql://x/y"}).WXB_MODE == "production"
    assert Config({"DATABASE_URL": "postgresql://x/y"}).FAKE_WECHAT is False
    assert Config({"DATABASE_URL": "postgresql://x/y", "WXB_MODE": "development"}).DEV_TOOLS
    with pytest.raises(ConfigError):
        Config({"FAKE_WECHAT": "maybe"})
    assert Config({"GROUP_COMMIT_STATEMENTS": "2"}).GROUP_COMMIT_STATEMENTS == 2
    with pytest.raises(ConfigError, match="GROUP_COMMIT_STATEMENTS"):
        Config({"GROUP_COMMIT_STATEMENTS": "0"})


# What an operator sets for production (README, "Pointing it at real services"); the
# SMS provider's keys are only read when a text is sent.
PRODUCTION = {"WXB_MODE": "production", "FAKE_WECHAT": False, "DEV_TOOLS": False,
              "FAKE_BEACON": False,
              "SMS_BACKEND": "aliyun", "ALIYUN_SMS_ACCESS_KEY_ID": "LTAI5tProdKeyId",
              "ALIYUN_SMS_ACCESS_KEY_SECRET": "prod-access-key-secret",
              "SMS_TEMPLATE_CODES": '{"verification_code": "SMS_4712"}',
              "WECHAT_OFFICIAL_TOKEN": "prodofficialtoken",
              "WECHAT_OFFICIAL_AES_KEY": "cHJvZG9mZmljaWFsYWNjb3VudGFlc2tleWZvcnRlc3Q",
              "WECHAT_OFFICIAL_MODE": "safe"}


def test_a_correct_production_configuration_starts_without_dev_tools(make_app):
    production = make_app(**PRODUCTION)
    client = production.test_client()

    assert production.config["WXB_MODE"] == "production"
    assert client.get("/healthz").status_code == 200
    outbox = client.get("/dev/outbox")
    assert outbox.status_code == 404
    assert outbox.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("switch, named, fix", [
    ({"FAKE_WECHAT": True}, "FAKE_WECHAT is on", "FAKE_WECHAT=0"),
    ({"DEV_TOOLS": True}, "DEV_TOOLS is on", "DEV_TOOLS=0"),
    ({"SMS_BACKEND": "outbox"}, "SMS_BACKEND=outbox", "SMS_BACKEND=aliyun or SMS_BACKEND=tencent"),
    ({"SMS_BACKEND": None}, "SMS_BACKEND is not set", "SMS_BACKEND=aliyun or SMS_BACKEND=tencent"),
    ({"WECHAT_OFFICIAL_MODE": "plain", "WECHAT_OFFICIAL_AES_KEY": None},
     "WECHAT_OFFICIAL_MODE is plain", "WECHAT_OFFICIAL_ALLOW_PLAIN=1"),
    ({"CLOCK_OFFSET": 3600}, "CLOCK_OFFSET", "unset it"),
    ({"FAKE_BEACON": True, "DRAW_BEACON_URL": None}, "FAKE_BEACON is on", "FAKE_BEACON=0"),
], ids=["fake-wechat", "dev-tools", "sms-outbox", "sms-unset", "plain-webhook", "clock",
        "fake-beacon"])
def test_production_refuses_each_development_switch(base_config, switch, named, fix):
    from wx_backend.core import clock

    with pytest.raises(ConfigError) as refused:
        create_app({**base_config, **PRODUCTION, **switch})

    message = str(refused.value)
    assert named in message and fix in message
    # That switch alone: the rest of the configuration is a good production one.
    assert message.count("\n  - ") == 1
    assert clock.offset().total_seconds() == 0  # refused before the clock was shifted


def test_production_without_an_aes_key_names_both_ways_out(base_config):
    with pytest.raises(ConfigError) as refused:
        create_app({**base_config, **PRODUCTION, "WECHAT_OFFICIAL_MODE": "plain",
                    "WECHAT_OFFICIAL_AES_KEY": None})

    assert "WECHAT_OFFICIAL_AES_KEY" in str(refused.value)
    assert "WECHAT_OFFICIAL_ALLOW_PLAIN=1" in str(refused.value)


def test_a_plain_mode_webhook_starts_in_production_when_opted_into(make_app):
    production = make_app(**{**PRODUCTION, "WECHAT_OFFICIAL_MODE": "plain",
                             "WECHAT_OFFICIAL_AES_KEY": None, "WECHAT_OFFICIAL_ALLOW_PLAIN": True})

    assert production.config["WECHAT_OFFICIAL_MODE"] == "plain"
    assert production.test_client().get("/healthz").status_code == 200


def test_production_defaults_from_the_environment_open_no_door():
    from wx_backend.config import Config

    production = Config({"DATABASE_URL": "postgresql://db.internal/booking",
                         "REDIS_URL": "redis://cache.internal:6379/0"})

    assert (production.FAKE_WECHAT, production.DEV_TOOLS) == (False, False)
    assert production.SMS_BACKEND is None
    assert production.WECHAT_OFFICIAL_MODE == "plain"
    assert production.WECHAT_OFFICIAL_ALLOW_PLAIN is False
    assert Config({}).SMS_BACKEND == "outbox"
    with pytest.raises(ConfigError, match="WECHAT_OFFICIAL_ALLOW_PLAIN"):
        Config({"WECHAT_OFFICIAL_ALLOW_PLAIN": "perhaps"})


def test_secret_key_fallbacks_are_a_list_of_strings(make_app):
    from wx_backend.config import Config

    assert Config({}).SECRET_KEY_FALLBACKS == []
    assert Config({"SECRET_KEY_FALLBACKS": " old-key-2 , old-key-1,, "}).SECRET_KEY_FALLBACKS == [
        "old-key-2", "old-key-1"]
    assert make_app(SECRET_KEY_FALLBACKS="older,oldest").config["SECRET_KEY_FALLBACKS"] == [
        "older", "oldest"]
    assert make_app().config["SECRET_KEY_FALLBACKS"] == []


@pytest.mark.parametrize("method, path, status, code", [
    ("get", "/api/v1/nowhere", 404, "not_found"),
    ("delete", "/api/v1/auth/login", 405, "method_not_allowed"),
])
def test_routing_errors_use_the_envelope(client, method, path, status, code):
    answer = getattr(client, method)(path)

    assert answer.status_code == status
    rid = answer.headers["X-Request-Id"]
    assert answer.json == {"error": {"code": code, "message": answer.json["error"]["message"],
                                     "fields": {}, "request_id": rid}}


def test_broken_json_and_huge_bodies(client, residents):
    token = residents.login("alice")
    headers = {**residents.headers(token), "Content-Type": "application/json"}

    broken = client.put("/api/v1/me/profile", data='{"name": "张三",', headers=headers)
    huge = client.put("/api/v1/me/profile", data="x" * (5 * 1024 * 1024), headers=headers)
    not_object = client.put("/api/v1/me/profile", data="[1, 2]", headers=headers)

    assert (broken.status_code, broken.json["error"]["code"]) == (400, "malformed_json")
    assert (huge.status_code, huge.json["error"]["code"]) == (413, "body_too_large")
    assert not_object.status_code == 422
    assert residents.profile(token).json["profile_complete"] is False


def test_chunked_bodies_are_measured_too(client):
    def chunked(body: bytes):
        return client.post("/api/v1/auth/login", input_stream=io.BytesIO(body),
                           headers={"Content-Type": "application/json",
                                    "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})

    huge = chunked(b"x" * (5 * 1024 * 1024))
    small = chunked(b'{"code": "dev-alice"}')

    assert (huge.status_code, huge.json["error"]["code"]) == (413, "body_too_large")
    assert small.status_code == 200


def test_unknown_fields_are_named(client, residents):
    token = residents.login("alice")

    answer = client.post("/api/v1/sms/codes", headers=residents.headers(token),
                         json={"phone": "13812345678", "is_admin": True})

    assert answer.status_code == 422
    assert answer.json["error"]["fields"] == {"is_admin": "不支持的字段"}


def test_unexpected_failure_answers_the_envelope_and_logs(make_app, caplog):
    broken = make_app()

    @broken.get("/api/v1/explode")
    def explode():
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR):
        answer = broken.test_client().get("/api/v1/explode")

    assert answer.status_code == 500
    assert answer.json["error"]["code"] == "internal_error"
    assert "boom" not in json.dumps(answer.json)
    assert any("boom" in str(record.exc_info) for record in caplog.records)


def test_redis_down_is_503_with_retry_after(make_app):
    offline = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client()

    answer = offline.post("/api/v1/auth/login", json={"code": "dev-alice"})

    assert answer.status_code == 503
    assert answer.json["error"]["code"] == "unavailable"
    assert answer.headers["Retry-After"] == "5"


def test_openapi_spec_describes_the_api(client):
    spec = client.get("/api/v1/openapi.json").json

    assert {"/api/v1/auth/login", "/api/v1/sms/codes", "/api/v1/me/profile"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["LoginIn"]["required"] == ["code"]
    assert set(spec["components"]["schemas"]["ProfileIn"]["properties"]) == {
        "name", "id_number", "id_kind", "phone", "sms_code", "address", "district_code",
        "promise"}
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["required"] is True
    invalid = login["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    envelope = spec["components"]["schemas"][invalid.rsplit("/", 1)[1]]
    assert set(envelope["properties"]["error"]["properties"]) >= {"code", "message", "fields"}
    profile_put = spec["paths"]["/api/v1/me/profile"]["put"]
    assert profile_put["security"] == [{"BearerAuth": []}]
    assert "/dev/outbox" not in spec["paths"]
