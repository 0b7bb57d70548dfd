"""What follows an editor's change of an announcement, whichever door it came through (the
admin API or the console): texts and campaign snapshots read afresh, and the pushes queued."""

from __future__ import annotations

import logging

import redis
from flask import current_app

from wx_backend import jobs
from wx_backend.models import Announcement
from wx_backend.official_account.bot import forget_texts

log = logging.getLogger(__name__)


def refresh(announcement: Announcement) -> None:
    """This process re-reads the campaign at once; others within the snapshot's TTL."""
    forget_texts()
    if announcement.campaign_id is not None:
        current_app.extensions["directory"].forget(announcement.campaign_id)


def push(announcement_id: int) -> None:
    """Queue the announcement's pushes (the next tick sends them if the queue is down)."""
    try:
        jobs.enqueue("push_announcement", announcement_id)
    except redis.RedisError:
        log.warning("queue unreachable: announcement %s is pushed by the next tick",
                    announcement_id)
