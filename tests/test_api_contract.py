"""The API keeps its contract under fuzzing: schemathesis generates requests from
``/api/v1/openapi.json`` and sends them to the app on a real HTTP server (real PostgreSQL
and Redis), as a verified resident and as staff, community staff and an editor where a
route needs them. No answer may be a 5xx, and every status code, content type and body
must be one the spec declares for that route.

Bounded: ``CONTRACT_EXAMPLES`` examples per operation (default 20); a longer run outside
the suite is ``CONTRACT_EXAMPLES=300 scripts/test tests/test_api_contract.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.worlds import auth, build, now, residents
from wx_backend.extensions import db
from wx_backend.identity.accounts import create_community_staff, create_editor, create_staff
from wx_backend.models import Resident

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
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-3000:]
