"""Password accounts on the staff surfaces: bearer tokens for the staff APIs (pharmacy
staff, editors, community staff), the sign-in guard per client address, and the one store
of staff sessions that the console shares (``identity.sessions.StaffSessions``)."""

from __future__ import annotations

from collections.abc import Callable

from apiflask import HTTPTokenAuth, Schema
from apiflask.fields import String
from apiflask.validators import Length
from flask import current_app, g, request

from wx_backend.core.errors import Forbidden
from wx_backend.extensions import db, redis_store
from wx_backend.identity.accounts import SignInGuard, audit, authenticate
from wx_backend.identity.sessions import StaffSessions
from wx_backend.web.errors import envelope


class StaffLoginIn(Schema):
    username = String(required=True, validate=Length(1, 64, error="请填写用户名"))
    password = String(required=True, validate=Length(1, 200, error="请填写密码"))


def staff_sessions() -> StaffSessions:
    """Staff sessions (console cookies and API tokens), on the main Redis."""
    return StaffSessions(redis_store.client)


def sign_in_guard() -> SignInGuard:
    """Failed sign-ins counted per client address, with this app's limit."""
    return SignInGuard(redis_store.client, current_app.config["SIGN_IN_FAILURES_PER_ADDRESS"])


def token_login(role: str, body: dict, ttl: int):
    """Sign in through a staff API: (the account, a bearer token good for ``ttl`` seconds
    until it is revoked). Refusals as for the console: the same answer for a wrong password
    and a locked account, 429 for an address that failed too often."""
    account = authenticate(db.session, role, body["username"], body["password"],
                           address=request.remote_addr, guard=sign_in_guard())
    if account.must_change_password:
        raise Forbidden("password_change_required",
                        "这是运营人员设置的初始密码，请先登录管理台（/console）设置自己的密码")
    token = staff_sessions().start(role, account.id, {}, lifetime=ttl, idle=None)
    audit(db.session, role, account, "sign_in", detail={"via": "api"})
    db.session.commit()
    return account, token


def token_logout() -> None:
    """End the session of the bearer token this request carries."""
    staff_sessions().end(request.authorization.token)


def account_auth(model, role: str, scheme: str, description: str) -> HTTPTokenAuth:
    """An auth whose tokens (from ``token_login(role, …)``) open the active ``model``
    account they were issued for; failures answer in the JSON envelope."""
    auth = HTTPTokenAuth(scheme="Bearer", security_scheme_name=scheme, description=description)

    @auth.verify_token
    def verify(token: str):
        g.auth_failure = "invalid_token" if token else "login_required"
        found = staff_sessions().load(token, touch=False) if token else None
        if found is None or found.role != role or found.account_id is None:
            return None
        account = db.session.get(model, found.account_id)
        return account if account is not None and account.active else None

    @auth.error_processor
    def failed(error):
        if g.get("auth_failure") == "invalid_token":
            return envelope(401, "invalid_token", "登录已过期或无效，请重新登录")
        return envelope(401, "login_required", "请先登录")

    return auth


def add_sign_in_routes(bp, role: str, auth: HTTPTokenAuth, ttl: int, who: str,
                       about: Callable[[object], dict]) -> None:
    """``POST <bp>/login`` and ``/logout`` for one role's API: the token (good for ``ttl``
    seconds until revoked) with what ``about`` says of the account, and its revocation."""

    @bp.post("/login", endpoint="login")
    @bp.input(StaffLoginIn, arg_name="body")
    @bp.doc(summary=f"{who}登录",
            responses={200: "成功", 401: "用户名或密码不正确",
                       403: "password_change_required：须先在管理台设置自己的密码",
                       429: "本网络登录失败次数太多"})
    def login(body):
        """Exchange username and password for a token."""
        account, token = token_login(role, body, ttl)
        return {"token": token, "expires_in": ttl, **about(account)}

    @bp.post("/logout", endpoint="logout")
    @bp.auth_required(auth)
    @bp.output({}, status_code=204)
    @bp.doc(summary="退出登录（令牌立即失效）")
    def logout():
        """Revoke the token this request carries."""
        token_logout()
        return ""
