"""Unbound extension objects; ``create_app`` binds each with ``init_app``.

Nothing here connects at import time.
"""

from __future__ import annotations

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

from wx_backend.config import ConfigError
from wx_backend.core import redis_urls
from wx_backend.core.pii import PiiKeyError, PiiVault


class Base(DeclarativeBase):
    """Declarative base for every model."""


class RedisExtension:
    """Holds the app's Redis clients (``redis`` for REDIS_URL, ``stock_redis`` for
    STOCK_REDIS_URL, the same client when both name one server); redis-py connects lazily
    on first command."""

    def init_app(self, app: Flask) -> None:
        options = dict(health_check_interval=30, socket_timeout=5, socket_connect_timeout=5)
        app.extensions["redis"] = redis_urls.connect(app.config["REDIS_URL"], **options)
        stock_url = app.config.get("STOCK_REDIS_URL") or app.config["REDIS_URL"]
        app.extensions["stock_redis"] = (
            app.extensions["redis"] if stock_url == app.config["REDIS_URL"]
            else redis_urls.connect(stock_url, **options))

    @property
    def client(self) -> redis.Redis:
        """The current app's client."""
        return current_app.extensions["redis"]


class PiiExtension:
    """Holds each app's PiiVault, built from PII_KEY, PII_OLD_KEYS and PII_INDEX_KEY."""

    def init_app(self, app: Flask) -> None:
        config = app.config
        try:
            vault = PiiVault(config["PII_KEY"], config["PII_OLD_KEYS"], config["PII_INDEX_KEY"])
        except PiiKeyError as error:
            raise ConfigError(f"PII_KEY / PII_OLD_KEYS / PII_INDEX_KEY: {error}") from None
        app.extensions["pii"] = vault

    @property
    def vault(self) -> PiiVault:
        """The current app's vault."""
        return current_app.extensions["pii"]


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
redis_store = RedisExtension()
pii = PiiExtension()
# CSRF tokens for the console's forms; checked by the console itself, not on the token API.
csrf = CSRFProtect()
