"""Logging in with a wx.login code through the real wechatpy client and the fake WeChat."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import MINIPROGRAM
from wx_backend.dev.fakes.wechat_api import openid_for, unionid_for


def test_dev_code_logs_in_and_creates_one_resident(client, sql):
    first = client.post("/api/v1/auth/login", json={"code": "dev-alice"})
    again = client.post("/api/v1/auth/login", json={"code": "dev-alice"})

    assert first.status_code == 200
    assert first.json["profile_complete"] is False
    assert first.json["expires_in"] > 0
    assert first.json["token"] != again.json["token"]
    rows = sql("SELECT openid, unionid FROM residents")
    assert rows == [(openid_for(MINIPROGRAM[0], "alice"), unionid_for("alice"))]


def test_each_dev_name_is_a_different_resident(client, sql):
    for name in ("alice", "bob", "carol"):
        assert client.post("/api/v1/auth/login", json={"code": f"dev-{name}"}).status_code == 200
    assert sql("SELECT count(*) FROM residents") == [(3,)]


def test_unknown_code_is_refused_with_401_and_creates_nobody(client, sql):
    answer = client.post("/api/v1/auth/login", json={"code": "071abcDEF"})

    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "invalid_login_code"
    assert "重新" in answer.json["error"]["message"]
    assert sql("SELECT count(*) FROM residents") == [(0,)]


def test_login_without_code_is_a_validation_error(client):
    answer = client.post("/api/v1/auth/login", json={"code": ""})

    assert answer.status_code == 422
    assert answer.json["error"]["fields"] == {"code": "登录凭证不正确"}


def test_wechat_outage_answers_503_not_500(client, fake_wechat, sql):
    requests.post(fake_wechat.base_url + "fake/faults",
                  json={"path": "sns/jscode2session", "http_status": 502, "times": 1},
                  timeout=5)

    answer = client.post("/api/v1/auth/login", json={"code": "dev-alice"})

    assert answer.status_code == 503
    assert answer.json["error"]["code"] == "wechat_unavailable"
    assert sql("SELECT count(*) FROM residents") == [(0,)]


def test_wechat_rate_limit_answers_429(client, fake_wechat):
    requests.post(fake_wechat.base_url + "fake/faults",
                  json={"path": "sns/jscode2session", "errcode": 45011, "times": 1}, timeout=5)

    answer = client.post("/api/v1/auth/login", json={"code": "dev-alice"})

    assert answer.status_code == 429
    assert answer.json["error"]["code"] == "busy"
    assert answer.headers["Retry-After"] == "5"


def test_token_opens_the_profile_and_logout_revokes_it(client, residents):
    token = residents.login("alice")
    assert residents.profile(token).status_code == 200

    assert client.post("/api/v1/auth/logout", headers=residents.headers(token)).status_code == 204

    answer = residents.profile(token)
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "invalid_token"


def test_missing_and_forged_tokens_are_401(client):
    missing = client.get("/api/v1/me/profile")
    forged = client.get("/api/v1/me/profile", headers={"Authorization": "Bearer forged-token"})
    wrong_scheme = client.get("/api/v1/me/profile", headers={"Authorization": "Basic eDp5"})

    assert (missing.status_code, missing.json["error"]["code"]) == (401, "login_required")
    assert (forged.status_code, forged.json["error"]["code"]) == (401, "invalid_token")
    assert wrong_scheme.status_code == 401


def test_token_expires_after_session_ttl(make_app, app):
    short = make_app(SESSION_TTL=1).test_client()
    login = short.post("/api/v1/auth/login", json={"code": "dev-alice"})
    assert login.json["expires_in"] == 1
    headers = {"Authorization": f"Bearer {login.json['token']}"}
    assert short.get("/api/v1/me/profile", headers=headers).status_code == 200

    time.sleep(1.5)

    answer = short.get("/api/v1/me/profile", headers=headers)
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "invalid_token"


def test_simultaneous_first_logins_make_one_resident(live_server, sql):
    def login(_):
        return requests.post(f"{live_server}/api/v1/auth/login", json={"code": "dev-crowd"},
                             timeout=30).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(login, range(32)))

    assert statuses == [200] * 32
    assert sql("SELECT count(*) FROM residents") == [(1,)]
