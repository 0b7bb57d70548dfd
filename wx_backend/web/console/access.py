"""Who may see what in the console, checked on the server for every request (pages, htmx
fragments and direct URLs alike).

A console session is a signed, HttpOnly, SameSite cookie that lives only under /console
(``ConsoleSessions``; the API keeps its bearer tokens and no cookie). It holds the role and
the account id; each request loads the account again, so a deactivated account is out at
once. Every form carries a CSRF token (Flask-WTF), checked for every POST. Each page says
its role with ``@requires``: anyone else is refused, and nobody signed in is sent to the
sign-in page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from flask import g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError

from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import DomainError
from wx_backend.core.tabular import MAX_BYTES
from wx_backend.extensions import csrf, db
from wx_backend.identity.accounts import ROLE_NAMES, ROLES
from wx_backend.web.console.blueprint import bp


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session for /console only; every other request gets the null
    session (the API's logins are bearer tokens, and cost no signer per request)."""

    def open_session(self, app, request):
        if not request.path.startswith("/console"):
            return None
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if not request.path.startswith("/console"):
            return None
        return super().save_session(app, session, response)


def sign_in(role: str, account) -> None:
    """Start a fresh session for ``account`` (nothing of an earlier one is kept)."""
    session.clear()
    session.permanent = True
    session["role"], session["account"] = role, account.id


def sign_out() -> None:
    session.clear()


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


def requires(role: str) -> Callable:
    """The page is for ``role`` only; ``g.actor`` is the signed-in account."""
    def wrap(view: Callable) -> Callable:
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            found = current()
            if found is None:
                if _is_htmx():
                    return "", 401, {"HX-Redirect": url_for("console.login")}
                return redirect(url_for("console.login", next=request.path))
            if found[0] != role:
                return render_template("console/refused.html",
                                       needed=ROLE_NAMES[role]), 403
            g.role, g.actor = found
            return view(*args, **kwargs)

        guarded.console_role = role
        return guarded

    return wrap


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
    return {"role_names": ROLE_NAMES}


@bp.errorhandler(CSRFError)
def csrf_refused(error):
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
