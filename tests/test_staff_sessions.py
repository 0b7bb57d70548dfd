"""Staff sessions can be ended: the console's sessions and the staff APIs' tokens live on
the server, so signing out, a password change and a deactivation end them (a copied cookie
included); they run out after a while without use, which the pages' own polling does not
count; and one address cannot keep trying passwords."""

from __future__ import annotations

import time

import pytest
import requests

from tests.test_console import ACCOUNTS, PASSWORD, _signed_in, _token, world  # noqa: F401

# Every test here has the console's accounts (tests.test_console's ``world``).
pytestmark = pytest.mark.usefixtures("world")
POLL = {"HX-Request": "true", "X-Console-Background": "1"}


def _copy(browser: requests.Session) -> requests.Session:
    """Another browser holding a copy of ``browser``'s cookies (a stolen cookie)."""
    thief = requests.Session()
    thief.cookies.update(browser.cookies)
    return thief


def _page(browser, base, path="/console/pharmacy"):
    return browser.get(base + path, timeout=10, allow_redirects=False)


def test_a_copied_cookie_stops_working_at_sign_out(live_server):
    browser = _signed_in(live_server, "pharmacy")
    thief = _copy(browser)
    assert _page(thief, live_server).status_code == 200

    page = _page(browser, live_server).text
    out = browser.post(f"{live_server}/console/logout", data={"csrf_token": _token(page)},
                       timeout=10, allow_redirects=False)

    assert out.status_code == 302
    stolen = _page(thief, live_server)
    assert stolen.status_code == 302 and "/console/login" in stolen.headers["Location"]


def test_the_pages_polling_does_not_keep_a_session_alive(make_app, serve):
    base = serve(make_app(CONSOLE_IDLE_SECONDS=2))
    polled, used = _signed_in(base, "pharmacy"), _signed_in(base, "pharmacy")
    answers = []
    for _ in range(6):  # three seconds: past the idle limit
        time.sleep(0.5)
        answers.append(polled.get(f"{base}/console/pharmacy/day", headers=POLL, timeout=10))
        assert _page(used, base).status_code == 200  # use keeps the other one alive

    assert answers[0].status_code == 200
    assert answers[-1].status_code == 401
    assert "登录已过期" in answers[-1].text  # shown in the polled part, the page left as is
    login = polled.get(f"{base}/console/pharmacy", timeout=10)
    assert login.url.endswith("/console/login?next=/console/pharmacy")
    assert "登录已过期" in login.text


def test_sessions_end_after_their_lifetime_whatever_their_use(make_app, serve):
    base = serve(make_app(CONSOLE_SESSION_SECONDS=2))
    browser = _signed_in(base, "operator")
    statuses = []
    for _ in range(5):
        time.sleep(0.6)
        statuses.append(_page(browser, base, "/console/operator").status_code)
    assert statuses[0] == 200 and statuses[-1] == 302


def test_a_password_change_ends_every_session_of_the_account(live_server, sql):
    here, elsewhere = _signed_in(live_server, "editor"), _signed_in(live_server, "editor")
    api = requests.post(f"{live_server}/api/v1/admin/login", timeout=10,
                        json={"username": ACCOUNTS["editor"], "password": PASSWORD})
    api_token = {"Authorization": f"Bearer {api.json()['token']}"}
    form = here.get(f"{live_server}/console/password", timeout=10)
    new = "a new and longer passphrase"

    mismatch = here.post(f"{live_server}/console/password", timeout=10, data={
        "csrf_token": _token(form.text), "current_password": PASSWORD,
        "new_password": new, "repeat_password": new + "!"})
    wrong = here.post(f"{live_server}/console/password", timeout=10, data={
        "csrf_token": _token(form.text), "current_password": "not it at all",
        "new_password": new, "repeat_password": new})
    assert mismatch.status_code == 422 and "不一致" in mismatch.text
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    assert _page(elsewhere, live_server, "/console/editor").status_code == 200

    done = here.post(f"{live_server}/console/password", timeout=10, data={
        "csrf_token": _token(form.text), "current_password": PASSWORD,
        "new_password": new, "repeat_password": new})

    assert done.status_code == 200 and "密码已修改" in done.text
    for browser in (here, elsewhere):
        assert _page(browser, live_server, "/console/editor").status_code == 302
    assert requests.get(f"{live_server}/api/v1/admin/announcements", headers=api_token,
                        timeout=10).status_code == 401
    again = requests.post(f"{live_server}/api/v1/admin/login", timeout=10,
                          json={"username": ACCOUNTS["editor"], "password": new})
    assert again.status_code == 200
    assert sql("SELECT count(*) FROM audit_log WHERE action = 'change_password'") == [(1,)]


def test_deactivating_an_account_ends_its_sessions_and_tokens(app, live_server):
    browser = _signed_in(live_server, "pharmacy")
    api = requests.post(f"{live_server}/api/v1/staff/login", timeout=10,
                        json={"username": ACCOUNTS["pharmacy"], "password": PASSWORD})
    headers = {"Authorization": f"Bearer {api.json()['token']}"}
    assert requests.get(f"{live_server}/api/v1/staff/store", headers=headers,
                        timeout=10).status_code == 200

    result = app.test_cli_runner().invoke(
        args=["staff", "deactivate", "--username", ACCOUNTS["pharmacy"]])

    assert result.exit_code == 0, result.output
    assert _page(browser, live_server).status_code == 302
    assert requests.get(f"{live_server}/api/v1/staff/store", headers=headers,
                        timeout=10).status_code == 401
    refused = requests.post(f"{live_server}/api/v1/staff/login", timeout=10,
                            json={"username": ACCOUNTS["pharmacy"], "password": PASSWORD})
    assert refused.status_code == 401


def test_a_staff_token_ends_at_logout(live_server):
    for path, role, probe in (("staff", "pharmacy", "/api/v1/staff/store"),
                              ("admin", "editor", "/api/v1/admin/announcements"),
                              ("community", "community", "/api/v1/community/residents/1")):
        login = requests.post(f"{live_server}/api/v1/{path}/login", timeout=10,
                              json={"username": ACCOUNTS[role], "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        assert requests.get(live_server + probe, headers=headers, timeout=10).status_code != 401
        out = requests.post(f"{live_server}/api/v1/{path}/logout", headers=headers, timeout=10)
        assert out.status_code == 204
        assert requests.get(live_server + probe, headers=headers, timeout=10).status_code == 401


def test_one_address_cannot_keep_trying_passwords(make_app, serve, sql):
    base = serve(make_app(SIGN_IN_FAILURES_PER_ADDRESS=8, PROXY_HOPS=1))
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    answers = []
    for n in range(10):  # spread over several accounts, so no one account is locked
        role = ("pharmacy", "editor", "community", "operator")[n % 4]
        browser = requests.Session()
        token = _token(browser.get(f"{base}/console/login", headers=attacker, timeout=10).text)
        answers.append(browser.post(f"{base}/console/login", headers=attacker, timeout=10,
                                    data={"csrf_token": token, "role": role,
                                          "username": ACCOUNTS[role], "password": f"guess{n}"}))
    api = requests.post(f"{base}/api/v1/staff/login", headers=attacker, timeout=10,
                        json={"username": ACCOUNTS["pharmacy"], "password": PASSWORD})

    assert [a.status_code for a in answers] == [401] * 8 + [429] * 2
    assert "登录失败次数太多" in answers[-1].text
    assert api.status_code == 429 and api.json()["error"]["code"] == "too_many_sign_ins"
    # The pharmacist at the counter, on another address, signs in as usual.
    assert _signed_in(base, "pharmacy") is not None
    assert sql("SELECT count(*) FROM staff WHERE locked_until IS NOT NULL") == [(0,)]
