"""What operators look things up in: every campaign's stores (found by name, address or
district, and taken off the list or put back), the audit trail of every change staff
made (by role, account, action and day), and the day's public list as the public sees it.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, time, timedelta

from flask import current_app, g, render_template, request
from sqlalchemy import or_, select

from wx_backend.booking import public_list
from wx_backend.campaigns import manage
from wx_backend.core import clock
from wx_backend.core.clock import BEIJING
from wx_backend.extensions import db
from wx_backend.identity.accounts import ROLE_NAMES, audit
from wx_backend.models import AuditEntry, Campaign, Store
from wx_backend.web.console import paging
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp

ROLE = "operator"
# The audit trail's actions, as operators read them.
ACTIONS = {
    "sign_in": "登录", "sign_out": "退出登录", "sign_in_failed": "登录失败",
    "account_locked": "账号被锁定", "change_password": "修改密码", "open_account": "开设账号",
    "deactivate": "停用账号", "activate": "启用账号", "unlock": "解除锁定",
    "reset_password": "重置密码", "set_district": "设置辖区",
    "redeem": "核销取货", "release_vouchers": "发放购买凭证", "redeem_voucher": "核销凭证",
    "register_resident": "代居民登记", "book_for_resident": "代居民预约",
    "enter_for_resident": "代居民登记摇号", "review": "审核排队登记",
    "draft_announcement": "写公告", "propose_rules": "提出规则调整",
    "approve_rules": "批准规则调整", "schedule_announcement": "定时发布公告",
    "publish_announcement": "发布公告", "retract_announcement": "撤回公告",
    "save_faq": "保存问答", "delete_faq": "删除问答", "import_stores": "导入药店",
    "deactivate_store": "药店下线", "activate_store": "药店上线",
    "retry_failed": "重发失败消息", "export_delivery": "导出配送单",
    "import_delivery_statuses": "导入配送状态", "commit_draw": "封存摇号名单",
    "run_draw": "摇号", "create_campaign": "新建活动", "plan_windows": "排预约时段",
    "change_rules": "调整规则", "withdraw_rules": "撤销规则版本",
}


def _stores_page(notice: dict | None = None, status: int = 200):
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id)).all()
    raw = request.values.get("campaign_id") or ""
    chosen = int(raw) if raw.isascii() and raw.isdigit() else (
        campaigns[-1].id if campaigns else None)
    q = unicodedata.normalize("NFKC", request.values.get("q") or "").strip()
    query = select(Store).where(Store.campaign_id == chosen)
    if q:
        query = query.where(or_(Store.name.contains(q, autoescape=True),
                                Store.address.contains(q, autoescape=True),
                                Store.district.contains(q, autoescape=True)))
    page = paging.of_query(db.session, query, Store.active.desc(), Store.name)
    return render_template("console/operator/store_list.html", campaigns=campaigns,
                           chosen=chosen, q=q, page=page, notice=notice), status


@bp.get("/operator/store-list")
@requires(ROLE)
def operator_store_list():
    """A campaign's stores, 50 a page, found by name, address or district."""
    return _stores_page()


@bp.post("/operator/stores/<int:store_id>/<action>")
@requires(ROLE)
def operator_store_switch(store_id: int, action: str):
    """Take a store off the residents' list (its bookings stay good there), or put it
    back."""
    store = db.session.get(Store, store_id)
    if store is None or action not in ("deactivate", "activate"):
        return _stores_page({"kind": "error", "text": "没有这家药店"}, 404)
    manage.set_store_active(db.session, store, action == "activate")
    audit(db.session, ROLE, g.actor, f"{action}_store", f"store {store.id}",
          {"campaign_id": store.campaign_id, "name": store.name})
    db.session.commit()
    current_app.extensions["directory"].forget(store.campaign_id)
    text = (f"{store.name} 已下线：居民不能再选它预约，已有的预约仍在这里取货"
            if action == "deactivate" else f"{store.name} 已重新上线")
    return _stores_page({"kind": "ok", "text": text})


@bp.get("/operator/audit")
@requires(ROLE)
def operator_audit():
    """Every change staff made, newest first, by role, account, action and day."""
    role = request.args.get("role") or ""
    who = (request.args.get("who") or "").strip()
    action = request.args.get("action") or ""
    raw_day = request.args.get("day") or ""
    query = select(AuditEntry)
    if role in ROLE_NAMES:
        query = query.where(AuditEntry.actor_role == role)
    if who:
        query = query.where(AuditEntry.actor_name.contains(who, autoescape=True))
    if action in ACTIONS:
        query = query.where(AuditEntry.action == action)
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        day = None
    if day is not None:
        start = datetime.combine(day, time(0), BEIJING)
        query = query.where(AuditEntry.at >= start, AuditEntry.at < start + timedelta(days=1))
    page = paging.of_query(db.session, query, AuditEntry.id.desc())
    return render_template("console/operator/audit.html", page=page, roles=ROLE_NAMES,
                           actions=ACTIONS, role=role, who=who, action=action,
                           day=day.isoformat() if day else "", today=clock.now())


@bp.get("/operator/public-list")
@requires(ROLE)
def operator_public_list():
    """A campaign's public list of a day exactly as the public sees it (the same lines,
    masked the same way), found by reservation number or store."""
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.id)).all()
    raw = request.args.get("campaign_id") or ""
    chosen = int(raw) if raw.isascii() and raw.isdigit() else (
        campaigns[-1].id if campaigns else None)
    lines, published, day = [], False, None
    if chosen is not None:
        snapshot = current_app.extensions["directory"].snapshot(db.session, chosen,
                                                                clock.now())
        try:
            day = date.fromisoformat(request.args.get("day") or "")
        except ValueError:
            day = clock.now().astimezone(snapshot.rules.zone).date()
        published = snapshot.rules.public_list
        if published:
            lines = public_list.day_list(db.session, current_app.extensions["redis"], chosen,
                                         day, snapshot.rules.zone)
    q = unicodedata.normalize("NFKC", request.args.get("q") or "").strip()
    if q:
        lines = [line for line in lines if q in line["reservation_no"] or q in line["store"]]
    return render_template("console/operator/public_list.html", campaigns=campaigns,
                           chosen=chosen, day=day, q=q, lines=lines[:500], total=len(lines),
                           published=published)
