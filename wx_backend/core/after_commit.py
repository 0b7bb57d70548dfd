"""What a change owes the world once it is committed: the domain function that makes the
change registers it (``after_commit``), and it happens when the caller commits, through
whichever surface the change came (the staff API, the console, a command), or not at all
when the caller rolls back.

For example releasing vouchers registers the job that tells their holders: no surface can
forget to tell them, and nobody is told of a voucher whose release was rolled back. The
work must not touch the database session (SQLAlchemy allows no SQL in ``after_commit``):
enqueueing a job by name is the usual one. A failure is logged, never raised: the change is
already committed, and the notification sweep finds what was not sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "wx_after_commit"


def after_commit(session: Session, work: Callable[[], object]) -> None:
    """Do ``work`` once the session's transaction commits (never if it rolls back)."""
    session.info.setdefault(_PENDING, []).append(work)


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    for work in session.info.pop(_PENDING, []):
        try:
            work()
        except Exception:  # noqa: BLE001 - committed already; the sweep catches up
            log.exception("work after a commit failed")


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)
