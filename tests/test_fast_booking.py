"""The plain booking request takes the lean path (miniprogram_api.fast_booking) and answers
exactly what the Flask view answers; anything else still reaches the view."""

from __future__ import annotations

import pytest

from tests.worlds import auth, build, residents


@pytest.fixture
def counted(app):
    """How many requests reached Flask's own dispatch."""
    seen = []

    def note():
        seen.append(1)

    app.before_request_funcs.setdefault(None, []).append(note)
    yield seen
    app.before_request_funcs[None].remove(note)


def _warm(client, world):
    """A first request caches the campaign in this process (the lean path needs it)."""
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}").status_code == 200


def test_the_lean_path_and_the_view_answer_alike(app, client, counted):
    world = build(app, quota=50, caps=(20, 20, 20))
    lean, viewed = residents(app, 2)
    _warm(client, world)
    url = f"/api/v1/campaigns/{world.campaign_id}/bookings"
    before = len(counted)

    fast = client.post(url, json={"store_id": world.store_ids[0]}, headers=auth(lean.token))
    assert len(counted) == before  # Flask never saw it
    # The same request with the rules version in a header goes through the view.
    slow = client.post(url, json={"store_id": world.store_ids[0]},
                       headers={**auth(viewed.token), "X-Rules-Version": "1"})
    assert len(counted) == before + 1

    assert fast.status_code == slow.status_code == 201
    assert fast.content_type == slow.content_type == "application/json"
    assert set(fast.json) == set(slow.json)
    for name in ("campaign_id", "status", "rules_version", "portion", "window"):
        assert fast.json[name] == slow.json[name]
    assert fast.json["store"] == slow.json["store"]
    shown = client.get(f"/api/v1/bookings/{fast.json['id']}", headers=auth(lean.token)).json
    assert shown == fast.json

    again_fast = client.post(url, json={"store_id": world.store_ids[1]},
                             headers=auth(lean.token))
    again_slow = client.post(url, json={"store_id": world.store_ids[1]},
                             headers={**auth(viewed.token), "X-Rules-Version": "1"})
    assert again_fast.status_code == again_slow.status_code == 409
    fast_error, slow_error = again_fast.json["error"], again_slow.json["error"]
    ids = (fast_error.pop("request_id"), slow_error.pop("request_id"))
    assert ids == (again_fast.headers["X-Request-Id"], again_slow.headers["X-Request-Id"])
    assert fast_error == slow_error and fast_error["code"] == "already_booked"


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    ({"store_id": "1"}, {}, 422, "invalid_input"),
    ({"store_id": 1, "colour": "red"}, {}, 422, "invalid_input"),
    ({"store_id": 1}, {"Authorization": "Bearer not-a-session"}, 401, "invalid_token"),
    ({"store_id": 1}, {"Authorization": ""}, 401, "login_required"),
])
def test_anything_but_the_plain_request_gets_the_views_own_answer(
        app, client, counted, body, headers, status, code):
    world = build(app, quota=50)
    (person,) = residents(app, 1)
    _warm(client, world)
    before = len(counted)
    answer = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings", json=body,
                         headers={**auth(person.token), **headers})
    assert answer.status_code == status
    assert answer.json["error"]["code"] == code
    assert len(counted) == before + 1
