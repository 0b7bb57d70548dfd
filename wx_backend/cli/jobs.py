"""Operator commands for the background work: ``worker``, ``jobs`` and ``campaign texts``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

from wx_backend import jobs
from wx_backend.extensions import db
from wx_backend.jobs import QUEUES, queue, worker
from wx_backend.models import Delivery
from wx_backend.notify import recover

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
    total, rows = recover.failed(limit)
    click.echo(f"{total} failed deliveries" + (f" (newest {len(rows)})" if total > limit else ""))
    for row in rows:
        whom = (f"resident {row.resident_id}" if row.resident_id is not None
                else "a follower not linked to a resident")
        click.echo(f"  delivery {row.id}: {row.event} #{row.subject_id} by {row.channel} "
                   f"to {whom}, {row.attempts} attempt(s), "
                   f"{row.failed_at:%Y-%m-%d %H:%M:%S}: {row.last_error}")
    count, found = jobs.failed_jobs(limit)
    if count:
        click.echo(f"{count} failed jobs")
    for job in found:
        click.echo(f"  job {job.id} ({job.queue}): {job.call} — {job.reason}")


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
    again = recover.retry_failed(None if everything else list(deliveries))
    missing = set(deliveries) - set(again)
    if missing:
        found = dict(db.session.execute(select(Delivery.id, Delivery.status)
                                        .where(Delivery.id.in_(missing))).all())
        for delivery_id in sorted(missing):
            state = found.get(delivery_id)
            click.echo(f"delivery {delivery_id}: "
                       + (f"is {state}, not failed" if state else "no such delivery"), err=True)
    click.echo(f"{len(again)} deliveries queued again")
    requeued = jobs.requeue_failed(None if everything else list(job_ids))
    if job_ids and requeued < len(job_ids):
        click.echo(f"{len(job_ids) - requeued} of the named jobs are not among failed jobs",
                   err=True)
    click.echo(f"{requeued} jobs requeued")
