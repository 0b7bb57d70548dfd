"""Who may see what in the console, checked on the server for every request (pages, htmx
fragments and direct URLs alike).

A console session lives on the server (``ConsoleSessions``); its HttpOnly, SameSite
cookie, only under /console, holds an opaque token (the API keeps its bearer tokens and no
cookie). The session holds the role and the account id; each request loads the account
again, so a deactivated account is out at once. Every form carries a CSRF token
(Flask-WTF), checked for every POST. Each page says its role with ``@requires``: anyone
else is refused, and nobody signed in is sent to the sign-in page.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime

from flask import g, redirect, render_template, request, session, url_for
from flask.sessions import SessionInterface, SessionMixin
from flask_wtf.csrf import CSRFError, generate_csrf
from werkzeug.datastructures import CallbackDict

from wx_backend.core import clock
from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import DomainError
from wx_backend.core.tabular import MAX_BYTES
from wx_backend.extensions import csrf, db
from wx_backend.identity.accounts import ROLE_NAMES, ROLES
from wx_backend.web.auth import staff_sessions
from wx_backend.web.console import paging
from wx_backend.web.console.blueprint import bp
from wx_backend.web.console.words import explain_failure, subject_words, words

ANONYMOUS_SECONDS = 3600  # a sign-in page's session (its CSRF token) before anyone signs in
BACKGROUND = "X-Console-Background"  # sent by the console's own polling (hx-headers)


class ConsoleSession(CallbackDict, SessionMixin):
    """The console's session as a view sees it: a dict, its token, and what is to happen
    to it when the answer goes out (``rotate`` after a sign-in, ``ended`` at sign-out)."""

    def __init__(self, initial=None, token: str | None = None, expired: bool = False):
        def changed(data):
            data.modified = True
        super().__init__(initial, changed)
        self.token = token
        self.expired = expired  # the browser sent a session that has ended or run out
        self.modified = False
        self.rotate = False
        self.ended = False


class ConsoleSessions(SessionInterface):
    """Console sessions kept on the server (``identity.sessions.StaffSessions``): the cookie
    holds only an opaque token, so signing out, a password change or a deactivation ends a
    session even where the cookie was copied. They last ``CONSOLE_SESSION_SECONDS`` at most
    and end after ``CONSOLE_IDLE_SECONDS`` without use; the console's own polling, which
    sends the ``X-Console-Background`` header, does not count as use. Only /console has a
    session; every other request gets none (the APIs use bearer tokens)."""

    def open_session(self, app, request):
        if not request.path.startswith("/console"):
            return None
        token = request.cookies.get(app.config["SESSION_COOKIE_NAME"])
        if not token:
            return ConsoleSession()
        found = staff_sessions().load(token, touch=request.headers.get(BACKGROUND) != "1")
        if found is None:
            return ConsoleSession(expired=True)
        return ConsoleSession(found.data, token=token)

    def save_session(self, app, session, response):
        if not request.path.startswith("/console") or session is None:
            return
        store, name = staff_sessions(), app.config["SESSION_COOKIE_NAME"]
        if session.ended:
            if session.token:
                store.end(session.token)
            response.delete_cookie(name, path=app.config["SESSION_COOKIE_PATH"])
            return
        if session.rotate or (session.token is None and session.modified and session):
            if session.token:
                store.end(session.token)
            role, account = session.get("role"), session.get("account")
            signed_in = bool(role and account)
            lifetime = app.config["CONSOLE_SESSION_SECONDS"] if signed_in else ANONYMOUS_SECONDS
            idle = app.config["CONSOLE_IDLE_SECONDS"] if signed_in else ANONYMOUS_SECONDS
            token = store.start(role if signed_in else None, account if signed_in else None,
                                dict(session), lifetime=lifetime, idle=idle)
            response.set_cookie(
                name, token, path=app.config["SESSION_COOKIE_PATH"],
                httponly=app.config["SESSION_COOKIE_HTTPONLY"],
                secure=app.config["SESSION_COOKIE_SECURE"],
                samesite=app.config["SESSION_COOKIE_SAMESITE"])
            return
        if session.token and session.modified:
            store.save(session.token, dict(session))


def sign_in(role: str, account) -> None:
    """Start a fresh session for ``account`` (nothing of an earlier one is kept, and the
    token changes, so a token known before the sign-in is worth nothing after it)."""
    session.clear()
    session["role"], session["account"] = role, account.id
    session.rotate = True


def sign_out() -> None:
    """End this session on the server and in the browser."""
    session.clear()
    session.ended = True


def current() -> tuple[str, object] | None:
    """(role, account) of the signed-in, still active account, or None."""
    role, account_id = session.get("role"), session.get("account")
    model = ROLES.get(role)
    if model is None or not isinstance(account_id, int):
        return None
    account = db.session.get(model, account_id)
    if account is None or not account.active:
        return None
    return role, account


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _guard(view: Callable, role: str | None) -> Callable:
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        found = current()
        if found is None:
            if _is_htmx():
                return expired()
            return redirect(url_for("console.login", next=request.path))
        if role is not None and found[0] != role:
            return render_template("console/refused.html", needed=ROLE_NAMES[role]), 403
        g.role, g.actor = found
        if found[1].must_change_password and request.endpoint != "console.password":
            # A password an operator made: the holder chooses their own before anything.
            if _is_htmx():
                return "", 200, {"HX-Redirect": url_for("console.password")}
            return redirect(url_for("console.password"))
        return view(*args, **kwargs)

    guarded.console_role = role
    return guarded


def requires(role: str) -> Callable:
    """The page is for ``role`` only; ``g.actor`` is the signed-in account."""
    return lambda view: _guard(view, role)


def signed_in(view: Callable) -> Callable:
    """The page is for anyone signed in, whatever their role (their own password)."""
    return _guard(view, None)


# Forms that upload files (store lists) may send more than any API body.
LARGE_UPLOADS = {"console.operator_stores_check": MAX_BYTES + 64 * 1024,
                 "console.operator_delivery_statuses": MAX_BYTES + 64 * 1024}


@bp.before_request
def check_csrf():
    if request.endpoint in LARGE_UPLOADS:
        request.max_content_length = LARGE_UPLOADS[request.endpoint]
    if request.method == "POST":
        csrf.protect()


@bp.app_template_filter("beijing")
def beijing(moment, pattern: str = "%m-%d %H:%M") -> str:
    """A moment (datetime or ISO text) as Beijing time, the way staff read the clock."""
    if not moment:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(BEIJING).strftime(pattern)


@bp.app_context_processor
def console_globals():
    return {"role_names": ROLE_NAMES, "now_utc": clock.now(), "words": words(),
            "explain": explain_failure, "subject_words": subject_words,
            "page_link": paging.link}


def expired():
    """An htmx request whose session has ended: a notice in the part of the page it
    was for, with sign-in in a new tab, so that what was typed on this page stays."""
    return render_template("console/_expired.html"), 401


@bp.errorhandler(CSRFError)
def csrf_refused(error):
    if _is_htmx():
        if current() is None:
            return expired()
        # Signed in again since the page was made (its token belonged to the old session):
        # the page gets this session's token and the person presses once more.
        return render_template("console/_notice.html", kind="error", text=(
            "页面已过期，已自动更新。没有做任何修改，请再点一次。")), 400, {
            "HX-Trigger": json.dumps({"csrf-token": generate_csrf()})}
    text = "表单已过期或不是从本系统页面提交的，没有做任何修改。请刷新页面后重试。"
    return render_template("console/message.html", title="表单已失效", text=text), 400


@bp.errorhandler(404)
def not_here(error):
    return render_template("console/message.html", title="没有找到",
                           text="没有找到这个页面或记录，或者它不属于您负责的范围。"), 404


@bp.errorhandler(DomainError)
def domain_refused(error: DomainError):
    # A refusal the page did not turn into its own message: shown plainly, nothing changed.
    db.session.rollback()
    if _is_htmx():
        return render_template("console/_notice.html", text=error.message, kind="error")
    return render_template("console/message.html", title="没有办成", text=error.message), 400
