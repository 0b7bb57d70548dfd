"""Signing in and out, and the console's front door (each role's home)."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from wx_backend.core.errors import NotAuthenticated
from wx_backend.extensions import db
from wx_backend.identity.accounts import ROLE_NAMES, audit, authenticate
from wx_backend.web.console.access import current, sign_in, sign_out
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
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        try:
            account = authenticate(db.session, role, username, request.form.get("password") or "")
        except NotAuthenticated as refused:
            error = refused.message
        else:
            sign_in(role, account)
            audit(db.session, role, account, "sign_in")
            db.session.commit()
            wanted = request.args.get("next") or ""
            # Only a path of our own console, never another site.
            target = wanted if wanted.startswith("/console/") and "//" not in wanted else None
            return redirect(target or url_for(HOMES[role]))
    return render_template("console/login.html", error=error, role=role, username=username,
                           roles=ROLE_NAMES), 401 if error else 200


@bp.post("/logout")
def logout():
    """Sign out (a form with its CSRF token, so no other site can sign anyone out)."""
    found = current()
    if found is not None:
        audit(db.session, found[0], found[1], "sign_out")
        db.session.commit()
    sign_out()
    return redirect(url_for("console.login"))
