"""Bearer-token authentication for residents."""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask import g, request

from wx_backend.core.errors import NotAuthenticated
from wx_backend.extensions import redis_store
from wx_backend.identity import sessions
from wx_backend.web.errors import envelope

auth = HTTPTokenAuth(scheme="Bearer", description="会话令牌，由 POST /api/v1/auth/login 获得")


@auth.verify_token
def verify_token(token: str) -> sessions.SessionInfo | None:
    """The session for a live token, or None."""
    g.auth_failure = "invalid_token" if token else "login_required"
    if not token:
        return None
    return sessions.lookup(redis_store.client, token)


@auth.error_processor
def auth_failed(error):
    if g.get("auth_failure") == "invalid_token":
        return envelope(401, "invalid_token", "登录已过期或无效，请重新登录",
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return envelope(401, "login_required", "请先登录", headers={"WWW-Authenticate": "Bearer"})


def authenticate() -> sessions.SessionInfo:
    """The session of this request's bearer token, for views that check it themselves."""
    header = request.authorization
    token = header.token if header is not None and header.type == "bearer" else None
    if not token:
        raise NotAuthenticated("login_required", "请先登录")
    session = sessions.lookup(redis_store.client, token)
    if session is None:
        raise NotAuthenticated("invalid_token", "登录已过期或无效，请重新登录")
    return session


def current_session() -> sessions.SessionInfo:
    """The logged-in resident's session (only inside ``auth_required`` views)."""
    return auth.current_user


def current_resident_id() -> int:
    """The logged-in resident's id (only inside ``auth_required`` views)."""
    return auth.current_user.resident_id
