"""Operators: every campaign with its window open now and what is left of it, the messages
by status, and store lists uploaded as the operator has them (CSV in UTF-8 or GBK, or
.xlsx): checked row by row first, written only when the operator confirms."""

from __future__ import annotations

import secrets
from datetime import date, datetime

from flask import Response, current_app, g, render_template, request
from sqlalchemy import func, select

from wx_backend import jobs, notify
from wx_backend.booking import first_come, postal
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import PRESETS, RulesError, load_preset, parse_rules
from wx_backend.core import clock
from wx_backend.core.clock import BEIJING
from wx_backend.core.errors import DomainError
from wx_backend.core.tabular import MAX_BYTES, MAX_COLUMNS, MAX_ROWS, read_table
from wx_backend.extensions import db, redis_store
from wx_backend.identity.accounts import audit
from wx_backend.lottery import draw as verifiable
from wx_backend.lottery import pool
from wx_backend.models import Campaign, Delivery, Draw, RulesVersion
from wx_backend.notify import recover
from wx_backend.official_account.bot import forget_texts
from wx_backend.web.console import rules_form
from wx_backend.web.console.access import requires
from wx_backend.web.console.blueprint import bp


@bp.get("/operator")
@requires("operator")
def operator(notice=None, status: int = 200):
    """Campaigns at a glance, and deliveries by status."""
    now = clock.now()
    directory, stock = current_app.extensions["directory"], current_app.extensions["stock"]
    rows = []
    for campaign_id in db.session.scalars(select(Campaign.id).order_by(Campaign.id)):
        snapshot = directory.snapshot(db.session, campaign_id, now)
        window = snapshot.window_at(now)
        left = None
        if window is not None:
            # Loaded ahead of its opening by the schedule; here if that was missed.
            first_come.ensure_loaded(db.session, stock, window.id, now)
            left = stock.left(window.id, [])[0]
        rows.append({"snapshot": snapshot, "window": window, "left": left,
                     "next": snapshot.next_window(now)})
    deliveries = dict(db.session.execute(select(Delivery.status, func.count())
                                         .group_by(Delivery.status)).all())
    return render_template("console/operator/home.html", rows=rows, deliveries=deliveries,
                           zone_of=lambda s: s.rules.zone, presets=PRESETS,
                           notice=notice), status


UPLOAD_SECONDS = 30 * 60


# The reader's bounds, as the upload forms state them.
UPLOAD_LIMITS = {"max_mb": MAX_BYTES // 1024 // 1024, "max_rows": f"{MAX_ROWS:,}",
                 "max_columns": MAX_COLUMNS}


def _upload_key(token: str) -> str:
    return f"wx:console:stores:{g.actor.id}:{token}"


def _campaign_choices():
    return db.session.scalars(select(Campaign).order_by(Campaign.id)).all()


@bp.get("/operator/stores")
@requires("operator")
def operator_stores():
    """Upload a campaign's store list."""
    return render_template("console/operator/stores.html", campaigns=_campaign_choices(),
                           checked=None, **UPLOAD_LIMITS)


@bp.post("/operator/stores/check")
@requires("operator")
def operator_stores_check():
    """Read the file and try every row; nothing is written. A clean file waits for the
    operator's confirmation for half an hour."""
    upload = request.files.get("file")
    campaign_id = request.form.get("campaign_id", type=int)
    checked = {"campaign_id": campaign_id, "errors": [], "created": 0, "updated": 0}
    try:
        if upload is None or not upload.filename:
            raise DomainError("file_required", "请选择要上传的文件")
        text = read_table(upload.read(), upload.filename)
        campaign = manage.get_campaign(db.session, campaign_id or 0)
        rules = manage.rules_in_force(db.session, campaign.id, clock.now())[1]
        result = manage.import_stores(db.session, campaign, text, rules.store_daily_cap)
    except DomainError as refused:
        checked["errors"] = [refused.message]
    else:
        checked.update(errors=result.errors or [], created=result.created,
                       updated=result.updated, filename=upload.filename)
        if not result.errors:
            token = secrets.token_urlsafe(16)
            redis_store.client.set(_upload_key(token), text, ex=UPLOAD_SECONDS)
            checked["token"] = token
    db.session.rollback()  # a check writes nothing
    return render_template("console/operator/stores.html", campaigns=_campaign_choices(),
                           checked=checked, **UPLOAD_LIMITS)


@bp.post("/operator/stores/confirm")
@requires("operator")
def operator_stores_confirm():
    """Write the checked list (all or nothing, checked again as it is written)."""
    token = request.form.get("token", "")
    campaign_id = request.form.get("campaign_id", type=int) or 0
    text = redis_store.client.get(_upload_key(token)) if token else None
    notice = None
    if text is None:
        notice = {"kind": "error", "text": "上传的文件已过期（半小时内有效），请重新上传"}
    else:
        try:
            campaign = manage.get_campaign(db.session, campaign_id)
            rules = manage.rules_in_force(db.session, campaign.id, clock.now())[1]
            result = manage.import_stores(db.session, campaign, text, rules.store_daily_cap)
        except DomainError as refused:
            db.session.rollback()
            notice = {"kind": "error", "text": refused.message}
        else:
            if result.errors:
                db.session.rollback()
                notice = {"kind": "error", "text": "文件在确认前已不再有效：" + result.errors[0]}
            else:
                audit(db.session, "operator", g.actor, "import_stores", f"campaign {campaign.id}",
                      {"created": result.created, "updated": result.updated})
                db.session.commit()
                redis_store.client.delete(_upload_key(token))
                current_app.extensions["directory"].forget(campaign.id)
                notice = {"kind": "ok", "text": f"已导入：新增 {result.created} 家，"
                                                f"更新 {result.updated} 家"}
    return render_template("console/operator/stores.html", campaigns=_campaign_choices(),
                           checked=None, notice=notice, **UPLOAD_LIMITS)


EVENT_NAMES = {"booking_confirmed": "预约成功", "pickup_reminder": "取货提醒",
               "booking_expired": "预约过期", "booking_cancelled": "取消预约",
               "delivery_switched": "改为配送", "draw_won": "中签通知",
               "voucher_released": "购买凭证", "announcement": "公告"}
CHANNEL_NAMES = {"sms": "短信", "wx_subscribe": "订阅消息", "wx_template": "模板消息"}


def _jobs_page(notice=None):
    total, deliveries = recover.failed(100)
    job_total, failed = jobs.failed_jobs(50)
    return render_template("console/operator/jobs.html", total=total, deliveries=deliveries,
                           job_total=job_total, failed=failed, events=EVENT_NAMES,
                           channels=CHANNEL_NAMES, notice=notice)


@bp.get("/operator/jobs")
@requires("operator")
def operator_jobs():
    """Messages that finally failed, with why, and jobs that raised."""
    return _jobs_page()


@bp.post("/operator/jobs/retry")
@requires("operator")
def operator_jobs_retry():
    """Send chosen failed messages again (fresh attempts), or all, and rerun failed jobs."""
    everything = request.form.get("all") == "1"
    chosen = [int(v) for v in request.form.getlist("delivery") if v.isascii() and v.isdigit()]
    again = recover.retry_failed(None if everything else chosen)
    requeued = jobs.requeue_failed(None) if everything else 0
    audit(db.session, "operator", g.actor, "retry_failed", "deliveries",
          {"deliveries": again[:200], "jobs": requeued})
    db.session.commit()
    return _jobs_page({"kind": "ok",
                       "text": f"已重新发送 {len(again)} 条消息，重新运行 {requeued} 个任务"})


def _delivery_page(notice=None, status: int = 200):
    now = clock.now()
    choices = []
    for campaign in _campaign_choices():
        rules = manage.rules_in_force(db.session, campaign.id, now)[1]
        if set(rules.fulfilment) & {"postal", "express", "collection_point"}:
            choices.append({"campaign": campaign, "couriers": sorted(
                {rules.delivery.postal_courier, rules.delivery.express_courier})})
    return render_template("console/operator/delivery.html", choices=choices, notice=notice,
                           today=now.astimezone(BEIJING).date().isoformat(),
                           **UPLOAD_LIMITS), status


@bp.get("/operator/delivery")
@requires("operator")
def operator_delivery():
    """Export a courier's orders of a day; upload the courier's status file."""
    return _delivery_page()


@bp.get("/operator/delivery/export")
@requires("operator")
def operator_delivery_export():
    """One courier's orders of one day as CSV (``postal.export_csv``: UTF-8 with its BOM,
    so Excel reads it, and no cell a spreadsheet would run)."""
    try:
        campaign = manage.get_campaign(db.session, request.args.get("campaign_id", type=int) or 0)
        day = date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return _delivery_page({"kind": "error", "text": "日期格式应为 YYYY-MM-DD"}, 422)
    courier = (request.args.get("courier") or "").strip()
    rules = manage.rules_in_force(db.session, campaign.id, clock.now())[1]
    text = postal.export_csv(db.session, campaign.id, courier, day, rules.zone)
    audit(db.session, "operator", g.actor, "export_delivery", f"campaign {campaign.id}",
          {"courier": courier, "day": day.isoformat(), "orders": text.count("\n") - 1})
    db.session.commit()
    name = f"delivery-{campaign.id}-{day.isoformat()}.csv"
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.post("/operator/delivery/statuses")
@requires("operator")
def operator_delivery_statuses():
    """Apply a courier's status file (order_id,status,tracking_no): all or nothing."""
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise DomainError("file_required", "请选择快递公司返回的状态文件")
        result = postal.import_statuses(db.session, read_table(upload.read(), upload.filename))
    except DomainError as refused:
        db.session.rollback()
        return _delivery_page({"kind": "error", "text": refused.message}, 422)
    if result.errors:
        db.session.rollback()
        return _delivery_page({"kind": "error", "text": "有问题，未做任何修改：" + "；".join(
            result.errors[:20])}, 422)
    audit(db.session, "operator", g.actor, "import_delivery_statuses", upload.filename[:80],
          {"updated": result.updated})
    db.session.commit()
    return _delivery_page({"kind": "ok", "text": f"已更新 {result.updated} 个订单的状态"})


def _draws_page(notice=None, status: int = 200):
    now = clock.now()
    lotteries = []
    for campaign in _campaign_choices():
        rules = manage.rules_in_force(db.session, campaign.id, now)[1]
        if rules.allocation != "lottery":
            continue
        draws = db.session.scalars(select(Draw).where(Draw.campaign_id == campaign.id)
                                   .order_by(Draw.id.desc())).all()
        lotteries.append({"campaign": campaign, "quota": rules.lottery.quota_per_draw or "",
                          "draws": [{"row": d, "commitment": verifiable.load_commitment(
                              d.commitment)} for d in draws]})
    return render_template("console/operator/draws.html", lotteries=lotteries,
                           notice=notice), status


@bp.get("/operator/draws")
@requires("operator")
def operator_draws():
    """Each lottery's draws: commit, then draw with the public value, then the files."""
    return _draws_page()


@bp.post("/operator/draws/commit")
@requires("operator")
def operator_draw_commit():
    """Commit to the pool as it is now, for a draw of ``quota`` winners."""
    try:
        made = pool.commit_draw(db.session, request.form.get("campaign_id", type=int) or 0,
                                request.form.get("quota", type=int), clock.now())
    except DomainError as refused:
        db.session.rollback()
        return _draws_page({"kind": "error", "text": refused.message}, 409)
    audit(db.session, "operator", g.actor, "commit_draw", f"draw {made.id}",
          {"quota": made.quota})
    db.session.commit()
    return _draws_page({"kind": "ok", "text": f"第{made.number}期已封存名单，请先公布承诺值再摇号"})


@bp.post("/operator/draws/<int:draw_id>/run")
@requires("operator")
def operator_draw_run(draw_id: int):
    """Draw with the public value announced beforehand; the winners are told."""
    value = (request.form.get("public_value") or "").strip()
    try:
        winners = pool.run_draw(db.session, draw_id, value, clock.now())
    except DomainError as refused:
        db.session.rollback()
        return _draws_page({"kind": "error", "text": refused.message}, 409)
    audit(db.session, "operator", g.actor, "run_draw", f"draw {draw_id}",
          {"public_value": value, "winners": len(winners)})
    db.session.commit()
    told = notify.announce("draw_won", pool.winning_entries(db.session, draw_id))
    return _draws_page({"kind": "ok", "text": f"摇号完成：{len(winners)} 人中签，"
                                              f"已通知 {len(told)} 条"})


@bp.post("/operator/campaigns")
@requires("operator")
def operator_campaign_create():
    """Create a campaign from a preset and plan its first days of windows."""
    preset = request.form.get("preset", "")
    slug = (request.form.get("slug") or "").strip()
    days = request.form.get("plan_days", type=int) or 2
    now = clock.now()
    try:
        if preset not in PRESETS:
            raise DomainError("invalid_preset", "请选择一个预设规则")
        data = load_preset(preset)
        name = (request.form.get("name") or "").strip() or f"{data['name']}（{slug}）"
        campaign = manage.create_campaign(db.session, slug, data, now, preset=preset,
                                          name=name)
        windows = manage.plan_ahead(db.session, campaign, min(days, 14), now)
    except (RulesError, DomainError) as refused:
        db.session.rollback()
        return operator({"kind": "error", "text": getattr(refused, "message", str(refused))},
                        422)
    audit(db.session, "operator", g.actor, "create_campaign", f"campaign {campaign.id}",
          {"preset": preset, "slug": slug, "windows": len(windows)})
    db.session.commit()
    return operator({"kind": "ok", "text": f"已创建活动 {campaign.name}，"
                                           f"排好 {len(windows)} 个预约时段；下一步：导入药店"})


@bp.post("/operator/campaigns/<int:campaign_id>/windows")
@requires("operator")
def operator_plan_windows(campaign_id: int):
    """Plan the next days' windows of a campaign (the ones that do not exist yet)."""
    days = request.form.get("days", type=int) or 2
    now = clock.now()
    try:
        campaign = manage.get_campaign(db.session, campaign_id)
        windows = manage.plan_ahead(db.session, campaign, min(days, 14), now)
    except DomainError as refused:
        db.session.rollback()
        return operator({"kind": "error", "text": refused.message}, 422)
    audit(db.session, "operator", g.actor, "plan_windows", f"campaign {campaign_id}",
          {"days": days, "windows": len(windows)})
    db.session.commit()
    current_app.extensions["directory"].forget(campaign_id)
    return operator({"kind": "ok", "text": f"{campaign.name}：新排 {len(windows)} 个时段"})


def _campaign_page(campaign_id: int, form=None, errors=None, notice=None, status: int = 200):
    now = clock.now()
    campaign = manage.get_campaign(db.session, campaign_id)
    in_force, rules = manage.rules_in_force(db.session, campaign.id, now)
    versions = db.session.scalars(select(RulesVersion).where(
        RulesVersion.campaign_id == campaign.id).order_by(RulesVersion.version.desc())).all()
    summaries = {}
    for version in versions:
        try:
            summaries[version.version] = parse_rules(version.rules).summary()
        except RulesError:
            summaries[version.version] = "（规则无法读取）"
    return render_template(
        "console/operator/campaign.html", campaign=campaign, rules=rules, in_force=in_force,
        versions=versions, summaries=summaries, current=rules_form.values_of(rules),
        form=form or {}, errors=errors or {}, notice=notice, zone=rules.zone, now_utc=now,
        default_at=now.astimezone(rules.zone).strftime("%Y-%m-%dT%H:%M"),
        fulfilments=rules_form.FULFILMENTS), status


@bp.get("/operator/campaigns/<int:campaign_id>")
@requires("operator")
def operator_campaign(campaign_id: int):
    """A campaign's rules: every version with when it took effect, and a form for a new one."""
    return _campaign_page(campaign_id)


@bp.post("/operator/campaigns/<int:campaign_id>/rules")
@requires("operator")
def operator_rules_change(campaign_id: int):
    """A new rules version from the fields filled in, in force from the time given."""
    form = dict(request.form)
    now = clock.now()
    try:
        campaign = manage.get_campaign(db.session, campaign_id)
        zone = manage.rules_in_force(db.session, campaign.id, now)[1].zone
        patch = rules_form.patch_from(form)
        if patch is None:
            raise DomainError("nothing_changed", "请至少填写一项要调整的规则")
        effective_at = _local_moment(form.get("effective_at", ""), zone) or now
        note = (form.get("note") or "").strip()[:200]
        if not note:
            raise DomainError("note_required", "请写明调整原因（会记录在规则版本里）",
                              fields={"note": "请写明调整原因"})
        version = manage.amend_rules(db.session, campaign, patch, effective_at, note, now)
    except RulesError as refused:
        db.session.rollback()
        return _campaign_page(campaign_id, form, {"rules": f"规则不正确：{refused}"},
                              {"kind": "error", "text": "规则不正确，没有做任何修改"}, 422)
    except DomainError as refused:
        db.session.rollback()
        return _campaign_page(campaign_id, form, refused.fields,
                              {"kind": "error", "text": refused.message}, 422)
    audit(db.session, "operator", g.actor, "change_rules", f"campaign {campaign.id}",
          {"version": version.version, "effective_at": version.effective_at.isoformat(),
           "patch": patch, "note": note})
    db.session.commit()
    current_app.extensions["directory"].forget(campaign.id)
    forget_texts()
    when = version.effective_at.astimezone(zone).strftime("%m月%d日 %H:%M")
    text = f"已保存为第 {version.version} 版规则，{when}起生效"
    if "pickup" not in version.rules.get("fulfilment", ["pickup"]):
        text += "；届时尚未取货的预约将改为配送（配送范围内的），并逐一通知本人"
    return _campaign_page(campaign_id, notice={"kind": "ok", "text": text})


@bp.post("/operator/campaigns/<int:campaign_id>/rules/<int:version>/withdraw")
@requires("operator")
def operator_rules_withdraw(campaign_id: int, version: int):
    """Withdraw a rules version that has not taken effect yet (audited); the windows it
    planned go with it, unless someone has booked them."""
    try:
        manage.withdraw_rules(db.session, manage.get_campaign(db.session, campaign_id),
                              version, clock.now())
    except DomainError as refused:
        db.session.rollback()
        return _campaign_page(campaign_id, notice={"kind": "error", "text": refused.message},
                              status=refused.status)
    audit(db.session, "operator", g.actor, "withdraw_rules", f"campaign {campaign_id}",
          {"version": version})
    db.session.commit()
    current_app.extensions["directory"].forget(campaign_id)
    forget_texts()
    return _campaign_page(campaign_id, notice={
        "kind": "ok", "text": f"第 {version} 版规则已撤销，不会生效"})


def _local_moment(raw: str, zone) -> datetime | None:
    """A ``datetime-local`` field's value, read in the campaign's time zone."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=zone)
    except ValueError:
        raise DomainError("invalid_effective_at", "生效时间格式不正确",
                          fields={"effective_at": "格式不正确"}) from None
