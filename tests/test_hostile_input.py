"""Whatever a client sends, the answer is a clear error in the envelope and never a 5xx."""

from __future__ import annotations

import json

import pytest

WEIRD_VALUES = [None, 0, -1, 10**30, 1.5, True, "", " ", "\x00", "\u202e张三", "😀" * 40,
                "x" * 600, [], ["13812345678"], {}, {"$gt": ""}]

ENDPOINTS = [
    ("post", "/api/v1/auth/login", ["code"]),
    ("post", "/api/v1/sms/codes", ["phone", "purpose"]),
    ("put", "/api/v1/me/profile", ["name", "id_number", "phone", "sms_code", "address"]),
]

GOOD = {"code": "dev-alice", "phone": "13812345678", "purpose": "profile", "name": "张三",
        "id_number": "110105198506150014", "sms_code": "123456",
        "address": "郑州市金水区花园路100号"}


def _cases():
    for method, path, fields in ENDPOINTS:
        for field in fields:
            for value in WEIRD_VALUES:
                body = {name: GOOD[name] for name in fields}
                body[field] = value
                yield pytest.param(method, path, json.dumps(body),
                                   id=f"{path}-{field}-{value!r:.20}")
        for raw in ["null", "1", '"text"', "[]", "{", '{"a":', "\x00", "{}" * 1000]:
            yield pytest.param(method, path, raw, id=f"{path}-raw-{raw[:10]!r}")


@pytest.mark.parametrize("method, path, body", list(_cases()))
def test_hostile_bodies_get_a_clear_error(client, residents, sql, method, path, body):
    token = residents.login("probe")

    answer = getattr(client, method)(path, data=body.encode("utf-8", "surrogatepass"),
                                     headers={**residents.headers(token),
                                              "Content-Type": "application/json"})

    assert answer.status_code < 500, answer.json
    if answer.status_code >= 400:
        error = answer.json["error"]
        assert error["code"] and error["message"] and isinstance(error["fields"], dict)
    assert sql("SELECT count(*) FROM residents WHERE profile_completed_at IS NOT NULL") == [(0,)]


@pytest.mark.parametrize("path", ["/api/v1/staff/login", "/api/v1/admin/login",
                                  "/api/v1/community/login"])
def test_a_nul_in_a_staff_login_is_a_wrong_login(client, path):
    answer = client.post(path, json={"username": "counter\x00", "password": "x" * 12})
    assert answer.status_code == 401
    assert answer.json["error"]["code"] == "bad_credentials"


def test_ids_past_what_a_row_can_have_are_not_found(client, residents):
    token = residents.login("alice")
    answer = client.get(f"/api/v1/bookings/{2**70}", headers=residents.headers(token))
    assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/campaigns/{2**64}").status_code == 404
