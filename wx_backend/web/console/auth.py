"""Signing in and out, and the console's front door (each role's home)."""

from __future__ import annotations

from flask import g, redirect, render_template, request, session, url_for

from wx_backend.core.errors import DomainError, NotAuthenticated, TooManyRequests
from wx_backend.extensions import db
from wx_backend.identity.accounts import ROLE_NAMES, audit, authenticate, change_password
from wx_backend.web.auth import sign_in_guard, staff_sessions
from wx_backend.web.console.access import current, sign_in, sign_out, signed_in
from wx_backend.web.console.blueprint import bp

HOMES = {"pharmacy": "console.pharmacy", "community": "console.community",
         "editor": "console.editor", "operator": "console.operator"}


@bp.get("/")
def home():
    """Each role's home page; the sign-in page for nobody."""
    found = current()
    if found is None:
        return redirect(url_for("console.login"))
    return redirect(url_for(HOMES[found[0]]))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form: role, username, password."""
    error, role, username = None, request.form.get("role", "pharmacy"), ""
    status = 401
    if request.method == "GET" and session.expired:
        error, status = "登录已过期（长时间未操作或已在别处退出），请重新登录。", 200
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        try:
            account = authenticate(db.session, role, username, request.form.get("password") or "",
                                   address=request.remote_addr, guard=sign_in_guard())
        except NotAuthenticated as refused:
            error = refused.message
        except TooManyRequests as refused:
            error, status = refused.message, 429
        else:
            sign_in(role, account)
            audit(db.session, role, account, "sign_in")
            db.session.commit()
            wanted = request.args.get("next") or ""
            # Only a path of our own console, never another site.
            target = wanted if wanted.startswith("/console/") and "//" not in wanted else None
            return redirect(target or url_for(HOMES[role]))
    return render_template("console/login.html", error=error, role=role, username=username,
                           roles=ROLE_NAMES), status if error else 200


@bp.post("/logout")
def logout():
    """Sign out (a form with its CSRF token, so no other site can sign anyone out)."""
    found = current()
    if found is not None:
        audit(db.session, found[0], found[1], "sign_out")
        db.session.commit()
    sign_out()
    return redirect(url_for("console.login"))


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def password():
    """Change one's own password (every role). Every session of the account ends, this one
    too: the new password signs in again."""
    fields = {}
    if request.method == "POST":
        new = request.form.get("new_password") or ""
        if new != (request.form.get("repeat_password") or ""):
            fields["repeat_password"] = "两次输入的新密码不一致"
        else:
            try:
                change_password(db.session, staff_sessions(), g.role, g.actor,
                                request.form.get("current_password") or "", new)
            except DomainError as refused:
                db.session.rollback()
                fields = refused.fields or {"current_password": refused.message}
            else:
                db.session.commit()
                sign_out()
                return render_template("console/message.html", title="密码已修改",
                                       text="密码已修改，所有登录（包括其他电脑上的）都已退出。"
                                            "请用新密码重新登录。", link=url_for("console.login"),
                                       link_text="去登录")
    return render_template("console/password.html", fields=fields), 422 if fields else 200
