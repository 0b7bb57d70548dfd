"""Probes for load balancers and orchestrators: ``/healthz`` (the process answers) and
``/readyz`` (PostgreSQL and every Redis it needs are reachable: 503 with what failed
otherwise). Neither is part of the API spec, and neither needs a login."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from wx_backend.extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    failed = {}
    try:
        db.session.execute(text("SELECT 1"))
    except (DBAPIError, PoolTimeout) as error:
        failed["postgresql"] = error.__class__.__name__
    finally:
        db.session.rollback()
    clients = {"redis": current_app.extensions["redis"]}
    if current_app.extensions["stock_redis"] is not clients["redis"]:
        clients["stock_redis"] = current_app.extensions["stock_redis"]
    for name, client in clients.items():
        try:
            client.ping()
        except redis.RedisError as error:
            failed[name] = error.__class__.__name__
    if failed:
        log.warning("not ready: %s", failed)
        return {"status": "unavailable", "failed": failed}, 503, {"Retry-After": "5"}
    return {"status": "ready"}
