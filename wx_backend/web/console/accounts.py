"""Operators keep the staff's accounts: open one for any role (pharmacy staff at a store,
community staff for a district or city, editors, operators) with a temporary password the
holder replaces at the first sign-in; switch one off or on; lift a lock; give a new
temporary password. Each is one call of ``identity.accounts``, audited there."""

from __future__ import annotations

from flask import g, render_template, request
from sqlalchemy import select

from wx_backend.campaigns import manage
from wx_backend.core import regions
from wx_backend.core.errors import DomainError, NotFound
from wx_backend.extensions import db
from wx_backend.identity import accounts
from wx_backend.identity.accounts import ROLE_NAMES, ROLES
from wx_backend.models import Campaign, Store
from wx_backend.web.auth import staff_sessions
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp

ROLE = "operator"
SHOWN = 200  # accounts listed at once; the search narrows them


def _scope(role: str, account, stores: dict) -> str:
    if role == "pharmacy":
        store = stores.get(account.store_id)
        return store.name if store else ""
    if role == "community":
        return f"{account.district}（{account.district_code or '未设区划代码'}）"
    return ""


def _page(notice: dict | None = None, form: dict | None = None, errors: dict | None = None,
          status: int = 200):
    role = request.values.get("show") or ""
    q = (request.values.get("q") or "").strip()
    rows = []
    for key, model in ROLES.items():
        if role and key != role:
            continue
        query = select(model).order_by(model.username)
        if q:
            query = query.where(model.username.contains(q, autoescape=True))
        rows += [(key, account) for account in db.session.scalars(query.limit(SHOWN))]
    stores = {s.id: s for s in db.session.scalars(select(Store).where(
        Store.id.in_([a.store_id for key, a in rows if key == "pharmacy"])))}
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id)).all()
    choices = {c.id: db.session.scalars(select(Store).where(Store.campaign_id == c.id,
                                                            Store.active)
                                        .order_by(Store.name)).all() for c in campaigns}
    cities = sorted({c for c in (regions.region(x) for x in _campaign_cities(campaigns)) if c},
                    key=lambda r: r.code)
    return render_template(
        "console/operator/accounts.html", rows=[
            {"role": key, "account": a, "scope": _scope(key, a, stores)} for key, a in rows],
        roles=ROLE_NAMES, show=role, q=q, notice=notice, form=form or {},
        errors=errors or {}, campaigns=campaigns, choices=choices,
        districts=[(city, regions.districts_in(city.code)) for city in cities]), status


def _campaign_cities(campaigns) -> set[str]:
    """The cities the campaigns serve: where community staff can be given a district."""
    return {city for city in (manage.latest_rules(db.session, c.id).rules.get("city")
                              for c in campaigns) if city}


@bp.get("/operator/accounts")
@requires(ROLE)
def operator_accounts():
    """Every account, by role, with what can be done to it."""
    return _page()


@bp.post("/operator/accounts")
@requires(ROLE)
def operator_open_account():
    """Open an account; its temporary password is shown once, here."""
    form = request.form
    role = form.get("role") or ""
    scope = form.get("store_id") if role == "pharmacy" else form.get("district_code")
    try:
        account, password = accounts.open_account(db.session, g.actor, role,
                                                  (form.get("username") or "").strip(), scope)
    except DomainError as refused:
        db.session.rollback()
        return _page({"kind": "error", "text": refused.message}, dict(form),
                     refused.fields or {}, 422)
    db.session.commit()
    return _page({"kind": "ok", "password": password, "text": (
        f"已开设{ROLE_NAMES[role]}账号 {account.username}。初始密码只显示这一次，"
        "请交给本人；首次登录时须设置自己的密码。")})


def _account(role: str, account_id: int):
    model = ROLES.get(role)
    found = db.session.get(model, account_id) if model is not None else None
    if found is None:
        raise NotFound("account_not_found", "没有这个账号")
    return found


@bp.post("/operator/accounts/<role>/<int:account_id>/<action>")
@requires(ROLE)
def operator_account_action(role: str, account_id: int, action: str):
    """Switch off or on, unlock, or reset the password of one account."""
    account = _account(role, account_id)
    password = None
    if action == "deactivate":
        if role == ROLE and account.id == g.actor.id:
            return _page({"kind": "error", "text": "不能停用自己正在使用的账号"}, status=409)
        accounts.set_active(db.session, staff_sessions(), role, account, False, ROLE, g.actor)
        text = f"已停用 {account.username}，其所有登录已立即退出"
    elif action == "activate":
        accounts.set_active(db.session, staff_sessions(), role, account, True, ROLE, g.actor)
        text = f"已启用 {account.username}"
    elif action == "unlock":
        accounts.unlock(db.session, role, account, g.actor)
        text = f"已解除 {account.username} 的锁定"
    elif action == "reset":
        password = accounts.reset_password(db.session, staff_sessions(), role, account,
                                           g.actor)
        text = (f"已为 {account.username} 设置新的初始密码（只显示这一次），"
                "其所有登录已退出；下次登录时须设置自己的密码。")
    else:
        return _page({"kind": "error", "text": "不认识的操作"}, status=404)
    db.session.commit()
    return _page({"kind": "ok", "text": text, "password": password})
