"""Unbound extension objects; ``create_app`` binds each with ``init_app``.

Nothing here connects at import time.
"""

from __future__ import annotations

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from wx_backend.pii import PiiVault


class Base(DeclarativeBase):
    """Declarative base for every model."""


class RedisExtension:
    """Holds one Redis client per app; redis-py connects lazily on first command."""

    def init_app(self, app: Flask) -> None:
        app.extensions["redis"] = redis.Redis.from_url(
            app.config["REDIS_URL"],
            decode_responses=True,
            health_check_interval=30,
            socket_timeout=5,
            socket_connect_timeout=5,
        )

    @property
    def client(self) -> redis.Redis:
        """The current app's client."""
        return current_app.extensions["redis"]


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
redis_store = RedisExtension()
pii = PiiVault()
