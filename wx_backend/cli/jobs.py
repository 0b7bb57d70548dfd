"""Operator commands for the background work: ``worker``, ``jobs`` and ``campaign texts``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select, update

from wx_backend import notify
from wx_backend.core import clock
from wx_backend.extensions import db
from wx_backend.jobs import QUEUES, queue, worker
from wx_backend.models import Delivery

jobs_cli = AppGroup("jobs", help="Look at and retry background work.")


@click.command("worker")
@click.option("--queues", default=",".join(QUEUES), show_default=True,
              help="Queues to work, most urgent first.")
@click.option("--burst", is_flag=True, help="Quit when the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: generated).")
@with_appcontext
def worker_command(queues: str, burst: bool, name: str | None) -> None:
    """Run a worker (with RQ's scheduler and the schedule's ticker)."""
    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    try:
        worker.run(current_app._get_current_object(), wanted, burst=burst, name=name)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


@jobs_cli.command("status")
def jobs_status() -> None:
    """Queue lengths, scheduled and failed jobs, and deliveries by status."""
    for name in QUEUES:
        q = queue(name)
        click.echo(f"queue {name}: {q.count} waiting, "
                   f"{StartedJobRegistry(queue=q).count} running, "
                   f"{ScheduledJobRegistry(queue=q).count} scheduled, "
                   f"{FailedJobRegistry(queue=q).count} failed")
    counts = dict(db.session.execute(select(Delivery.status, func.count())
                                     .group_by(Delivery.status)).all())
    click.echo("deliveries: " + (", ".join(f"{counts[s]} {s}" for s in sorted(counts))
                                 or "none"))


@jobs_cli.command("failed")
@click.option("--limit", default=50, show_default=True, help="Show at most this many of each.")
def jobs_failed(limit: int) -> None:
    """Messages that finally failed (and why), and jobs that failed."""
    total = db.session.scalar(select(func.count()).where(Delivery.status == "failed"))
    rows = db.session.scalars(select(Delivery).where(Delivery.status == "failed")
                              .order_by(Delivery.failed_at.desc(), Delivery.id.desc())
                              .limit(limit)).all()
    click.echo(f"{total} failed deliveries" + (f" (newest {len(rows)})" if total > limit else ""))
    for row in rows:
        whom = (f"resident {row.resident_id}" if row.resident_id is not None
                else "a follower not linked to a resident")
        click.echo(f"  delivery {row.id}: {row.event} #{row.subject_id} by {row.channel} "
                   f"to {whom}, {row.attempts} attempt(s), "
                   f"{row.failed_at:%Y-%m-%d %H:%M:%S}: {row.last_error}")
    for name in QUEUES:
        registry = FailedJobRegistry(queue=queue(name))
        ids = registry.get_job_ids(0, limit - 1)
        if not ids:
            continue
        click.echo(f"{registry.count} failed jobs in queue {name}")
        for job in registry.get_queue().job_class.fetch_many(
                ids, connection=registry.connection, serializer=registry.serializer):
            if job is None:
                continue
            reason = (job.latest_result().exc_string if job.latest_result() else "") or ""
            last = reason.strip().splitlines()[-1] if reason.strip() else "unknown"
            click.echo(f"  job {job.id}: {job.func_name}{tuple(job.args)!s:.80} — {last}")


@jobs_cli.command("retry")
@click.option("--delivery", "deliveries", type=int, multiple=True,
              help="A failed delivery to send again (repeatable).")
@click.option("--job", "job_ids", multiple=True, help="A failed job to run again (repeatable).")
@click.option("--all", "everything", is_flag=True,
              help="Every failed delivery and every failed job.")
def jobs_retry(deliveries: tuple[int, ...], job_ids: tuple[str, ...], everything: bool) -> None:
    """Send failed messages again (with a fresh set of attempts) and requeue failed jobs."""
    if not (deliveries or job_ids or everything):
        raise click.UsageError("name --delivery ID, --job ID or --all")
    query = update(Delivery).where(Delivery.status == "failed")
    if not everything:
        query = query.where(Delivery.id.in_(deliveries))
    again = db.session.scalars(
        query.values(status="retry", attempts=0, next_attempt_at=clock.now(), failed_at=None,
                     batch=None).returning(Delivery.id)
        .execution_options(synchronize_session=False)).all()
    db.session.commit()
    missing = set(deliveries) - set(again)
    if missing:
        found = dict(db.session.execute(select(Delivery.id, Delivery.status)
                                        .where(Delivery.id.in_(missing))).all())
        for delivery_id in sorted(missing):
            state = found.get(delivery_id)
            click.echo(f"delivery {delivery_id}: "
                       + (f"is {state}, not failed" if state else "no such delivery"), err=True)
    notify.dispatch(list(again))
    click.echo(f"{len(again)} deliveries queued again")
    requeued = 0
    for name in QUEUES:
        registry = FailedJobRegistry(queue=queue(name))
        for job_id in (registry.get_job_ids() if everything else job_ids):
            try:
                registry.requeue(job_id)
                requeued += 1
            except (InvalidJobOperation, NoSuchJobError):
                continue
    if job_ids and requeued < len(job_ids):
        click.echo(f"{len(job_ids) - requeued} of the named jobs are not among failed jobs",
                   err=True)
    click.echo(f"{requeued} jobs requeued")
