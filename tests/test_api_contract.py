"""The API keeps its contract under fuzzing: schemathesis generates requests from
``/api/v1/openapi.json`` and sends them to the app on a real HTTP server (real PostgreSQL
and Redis), as a verified resident and as staff, community staff and an editor where a
route needs them. No answer may be a 5xx, and every status code, content type and body
must be one the spec declares for that route; with every check, data the spec calls valid
is accepted, data it calls invalid refused, and ``Allow`` lists what the spec documents.
The custom formats' valid values come from ``tests/contract_hooks.py``.

Below the runs, the pieces of the contract one by one: whole numbers, the methods of a
URL, required bodies, and the canonical patterns against the domain's normalisers.

Bounded: ``CONTRACT_EXAMPLES`` examples per operation (default 20); a longer run outside
the suite is ``CONTRACT_EXAMPLES=300 scripts/test tests/test_api_contract.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from marshmallow import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Importing the hooks teaches schemathesis, in this process too, the custom formats' values.
from tests.contract_hooks import DISTRICTS, ID_DOCUMENTS
from tests.worlds import auth, build, now, residents
from wx_backend.core.errors import InvalidInput
from wx_backend.extensions import db
from wx_backend.identity import residents as identity
from wx_backend.identity.accounts import create_community_staff, create_editor, create_staff
from wx_backend.models import Resident
from wx_backend.web import input as api_input

PASSWORD = "a long enough password"
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "20"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def accounts(app, live_server) -> dict[str, dict]:
    """Headers of a verified resident with a booking, and of each staff role."""
    world = build(app, "zhengzhou")
    resident, other = residents(app, 2)
    with app.app_context():
        db.session.get(Resident, resident.id).address = "郑州市金水区经三路10号3单元201"
        db.session.get(Resident, resident.id).promised_at = now()
        create_staff(db.session, "counter.a", PASSWORD, world.store_ids[0])
        create_editor(db.session, "editor.a", PASSWORD)
        create_community_staff(db.session, "jinshui.a", PASSWORD, "410105")
        db.session.commit()
    booked = requests.post(f"{live_server}/api/v1/campaigns/{world.campaign_id}/bookings",
                           json={"store_id": world.store_ids[0]}, headers=auth(resident.token),
                           timeout=10)
    assert booked.status_code == 201, booked.text

    def login(path: str, name: str) -> dict:
        answer = requests.post(f"{live_server}/api/v1/{path}/login",
                               json={"username": name, "password": PASSWORD}, timeout=10)
        assert answer.status_code == 200, answer.text
        return auth(answer.json()["token"])

    return {"resident": auth(resident.token), "staff": login("staff", "counter.a"),
            "admin": login("admin", "editor.a"), "community": login("community", "jinshui.a")}


def _headers_for(path: str, accounts: dict[str, dict]) -> dict:
    for role in ("staff", "admin", "community"):
        if path.startswith(f"/api/v1/{role}/") and not path.endswith("/login"):
            return accounts[role]
    return accounts["resident"]


def _fuzz(operation, mode, accounts: dict, base_url: str) -> None:
    """Send ``EXAMPLES`` generated requests of ``mode`` to one operation; raise on the
    first (shrunk) answer that breaks the contract."""
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])
    def run(case):
        response = case.call(base_url=base_url, headers=_headers_for(case.path, accounts),
                             timeout=30)
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid-requests", "invalid-requests"])
def test_every_route_answers_as_its_spec_says(accounts, live_server, mode):
    schema = schemathesis.openapi.from_url(f"{live_server}/api/v1/openapi.json")
    broken = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        try:
            _fuzz(operation, mode, accounts, live_server)
        except Unsatisfiable:
            # Nothing in this operation can be made invalid (no parameters, no body).
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as failure:  # every broken route is reported
            broken[operation.label] = str(failure)[:1500]
    assert not broken, "\n\n".join(f"{label}:\n{text}" for label, text in broken.items())


# The paths each caller is tried on; the logouts end the very token the run carries, so
# they are tried on their own (tests/test_staff_sessions.py, tests/test_login.py).
ROLES = {
    "resident": r"^/api/v1/(?!staff/|admin/|community/)",
    "staff": r"^/api/v1/staff/",
    "admin": r"^/api/v1/admin/",
    "community": r"^/api/v1/community/",
}


@pytest.mark.parametrize("role", list(ROLES))
def test_schemathesis_run_with_every_check_finds_nothing(accounts, live_server, role,
                                                         tmp_path):
    """``schemathesis run --checks all`` (positive data accepted, negative refused, Allow
    headers right, …) as each caller, over every phase but the stateful one."""
    command = [str(Path(sys.executable).with_name("schemathesis")), "run",
               f"{live_server}/api/v1/openapi.json", "--checks", "all",
               "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES),
               "--workers", "1", "--include-path-regex", ROLES[role],
               "--exclude-path-regex", "/logout$", "--seed", "1", "--no-color",
               "--request-timeout", "30"]
    for name, value in accounts[role].items():
        command += ["-H", f"{name}: {value}"]
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                          env=env)
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-3000:]


# -- the contract, piece by piece ---------------------------------------------------------

def test_a_whole_number_is_one_however_json_writes_it(app, client):
    world = build(app)
    first, second = residents(app, 2)
    url = f"/api/v1/campaigns/{world.campaign_id}/bookings"

    half = client.post(url, json={"store_id": world.store_ids[0] + 0.5}, headers=auth(first.token))
    text = client.post(url, json={"store_id": str(world.store_ids[0])}, headers=auth(first.token))
    booked = client.post(url, json={"store_id": float(world.store_ids[0]), "pickup_slot": 0.0},
                         headers=auth(second.token))

    assert half.status_code == text.status_code == 422
    assert set(half.json["error"]["fields"]) == {"store_id"}
    assert booked.status_code == 201, booked.json
    assert booked.json["store"]["id"] == world.store_ids[0]


def test_a_url_allows_what_the_spec_documents_for_it(app, client):
    spec = client.get("/api/v1/openapi.json").json
    for path, operations in spec["paths"].items():
        # Any id and key will do: OPTIONS answers from the URL, before any row is read.
        url = re.sub(r"\{[a-z_]+_id\}", "1", path).replace("{key}", "vaccine_sites")
        documented = {method.upper() for method in operations} | {"OPTIONS"}
        if "GET" in documented:
            documented.add("HEAD")
        allowed = client.options(url).headers.get("Allow", "")
        assert {method.strip() for method in allowed.split(",")} == documented, path


def test_a_body_with_required_fields_is_required(client):
    spec = client.get("/api/v1/openapi.json").json
    schemas = spec["components"]["schemas"]
    bodies = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            bodies += 1
            (media,) = body["content"].values()
            schema = schemas[media["schema"]["$ref"].rpartition("/")[2]]
            assert body.get("required", False) == bool(schema.get("required")), (method, path)
            assert schema.get("additionalProperties") is False, (method, path)
    assert bodies >= 20


# The canonical patterns are the normalisers' own output: every value a pattern (and the
# format, for IDs and districts) admits, the normaliser takes unchanged.
CANONICAL = [
    (api_input.NAME, identity.normalise_name, (2, 30)),
    (api_input.PHONE, identity.normalise_phone, (11, 11)),
    (api_input.ADDRESS, identity.normalise_address, (5, 200)),
]


@pytest.mark.parametrize("pattern, normalise, lengths", CANONICAL,
                         ids=["name", "phone", "address"])
def test_what_a_canonical_pattern_admits_is_taken_unchanged(pattern, normalise, lengths):
    @given(st.from_regex(pattern, fullmatch=True).filter(
        lambda text: lengths[0] <= len(text) <= lengths[1]))
    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def taken(text):
        assert normalise(text) == text

    taken()


@given(number=ID_DOCUMENTS, district=DISTRICTS)
@settings(max_examples=60, deadline=None, database=None)
def test_the_formats_valid_values_match_their_patterns_and_are_taken(number, district):
    assert re.fullmatch(api_input.ID_NUMBER.strip("^$"), number)
    assert identity.normalise_id_number(number) == number
    assert re.fullmatch(api_input.SIX_DIGITS.strip("^$"), district)
    assert identity.read_district(district) == district


@pytest.mark.parametrize("typed, read", [
    ("41010519491231002x", False), ("410105 194912310020", True),
    ("４１０１０５194912310020", True), ("410105194912310021", False)])
def test_an_id_number_off_the_canonical_form_is_refused_with_words(typed, read):
    with pytest.raises(ValidationError) as refused:
        api_input.id_number_field().deserialize(typed)

    assert re.search(r"[\u4e00-\u9fff]{4}", str(refused.value.messages))
    if read:  # the console and the official account take it as typed
        assert identity.normalise_id_number(typed) == "410105194912310020"
    else:
        with pytest.raises(InvalidInput):
            identity.normalise_id_number(typed)


DATE_TIME = jsonschema_rs.Draft202012Validator({"type": "string", "format": "date-time"},
                                               validate_formats=True)


@given(st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
                  r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?", fullmatch=True),
    st.text(max_size=30)))
@settings(max_examples=300, deadline=None, database=None)
def test_a_moment_is_what_json_schema_calls_a_date_time(text):
    try:
        api_input.Moment().deserialize(text)
        taken = True
    except ValidationError:
        taken = False
    assert taken == DATE_TIME.is_valid(text), text
