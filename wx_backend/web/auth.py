"""Bearer-token authentication for password accounts (pharmacy staff, editors)."""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask import g

from wx_backend.extensions import db, redis_store
from wx_backend.identity import sessions
from wx_backend.web.errors import envelope


def account_auth(model, prefix: str, scheme: str, description: str) -> HTTPTokenAuth:
    """An auth whose tokens (issued with ``sessions.issue(..., prefix=prefix)``) open the
    active ``model`` account they were issued for; failures answer in the JSON envelope."""
    auth = HTTPTokenAuth(scheme="Bearer", security_scheme_name=scheme, description=description)

    @auth.verify_token
    def verify(token: str):
        g.auth_failure = "invalid_token" if token else "login_required"
        session = sessions.lookup(redis_store.client, token, prefix=prefix) if token else None
        if session is None:
            return None
        account = db.session.get(model, session.resident_id)
        return account if account is not None and account.active else None

    @auth.error_processor
    def failed(error):
        if g.get("auth_failure") == "invalid_token":
            return envelope(401, "invalid_token", "登录已过期或无效，请重新登录")
        return envelope(401, "login_required", "请先登录")

    return auth
