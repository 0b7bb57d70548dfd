"""wx_backend: booking scarce goods through WeChat.

``create_app`` builds the web app in named steps; nothing connects at import time. The map
of the package is ``docs/architecture.md``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

from apiflask import APIFlask
from werkzeug.middleware.proxy_fix import ProxyFix

from wx_backend import (
    dev,
    miniprogram_api,
    models,  # noqa: F401  (every table registered, for Alembic too)
    official_account,
    sms,
)
from wx_backend.booking.directory import BOOKING_PATH, Directory, SoldOutShortcut
from wx_backend.booking.figures import BookingFigures, Recorder
from wx_backend.booking.first_come import sold_out
from wx_backend.booking.stock import Stock
from wx_backend.booking.waiting_room import ROOM_PATH, Rooms
from wx_backend.cli import register_commands
from wx_backend.config import (
    DEFAULT_BEACON_URL,
    DEFAULT_WECHAT_API_BASE_URL,
    Config,
    ConfigError,
    check_production,
    key_list,
    load_dev_secrets,
    signing_keys,
)
from wx_backend.core import clock, embedded, tracing, wechat
from wx_backend.core.request_environ import RequestEnvironOnly
from wx_backend.core.throttle import Limiter, PerAddress
from wx_backend.core.tracing import RequestIds
from wx_backend.dev.fakes import beacon, wechat_api
from wx_backend.extensions import csrf, db, migrate, pii, redis_store
from wx_backend.miniprogram_api.fast_booking import FastBooking
from wx_backend.miniprogram_api.room_routes import FastPolls
from wx_backend.miniprogram_api.schemas import ERROR_SPEC
from wx_backend.web import admin, community, console, health, metrics, public, staff
from wx_backend.web.errors import document_error_answers, register_error_handlers

__all__ = ["ConfigError", "create_app"]


def create_app(config: Mapping | None = None) -> APIFlask:
    """Build the app from the environment, with ``config`` overriding any setting."""
    settings = {k: v for k, v in vars(Config()).items() if k.isupper()}
    settings.update(config or {})
    app = APIFlask(
        __name__,
        title="wx-backend",
        version="1",
        spec_path="/api/v1/openapi.json",
        docs_path=None,
        json_errors=False,
        instance_path=_instance_path(settings),
        instance_relative_config=False,
    )
    app.config.update(settings)
    app.json.ensure_ascii = False
    # The API's logins are bearer tokens; only the console (/console) has a cookie session.
    app.session_interface = console.ConsoleSessions()
    describe_errors(app)
    configure_logging(app)
    resolve_services(app)  # first: production's refusals come before anything is touched
    configure_clock(app)
    configure_signing_keys(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    install_sold_out_shortcut(app)
    keep_the_environment_out(app)
    return app


def _instance_path(settings: Mapping) -> str | None:
    path = settings.get("INSTANCE_PATH")
    return os.path.abspath(path) if path else None


def describe_errors(app: APIFlask) -> None:
    """Document the one error envelope in the OpenAPI spec for every error response."""
    app.config["HTTP_ERROR_SCHEMA"] = ERROR_SPEC
    app.config["VALIDATION_ERROR_SCHEMA"] = ERROR_SPEC
    document_error_answers(app)


def configure_logging(app: APIFlask) -> None:
    """Log to stderr at LOG_LEVEL unless the host (gunicorn, pytest) already set logging up;
    with LOG_FORMAT=json every line is a JSON object carrying the request id."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if app.config["LOG_FORMAT"] == "json":
        tracing.use_json_logs(root)
    logging.getLogger("wx_backend").setLevel(app.config["LOG_LEVEL"])


def configure_clock(app: APIFlask) -> None:
    """Views, domain code and jobs go by one clock, shifted by CLOCK_OFFSET in development."""
    clock.configure(app.config["CLOCK_OFFSET"])


def resolve_services(app: APIFlask) -> None:
    """Fill in secrets, database, Redis and WeChat endpoints; start embedded ones if unset."""
    config = app.config
    if config["WXB_MODE"] == "development":
        for name, value in load_dev_secrets(app.instance_path).items():
            config[name] = config.get(name) or value
    else:
        check_production(config)

    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = embedded.start_postgres(app.instance_path)
    if not config.get("REDIS_URL"):
        config["REDIS_URL"] = embedded.start_redis(app.instance_path)
    config["SQLALCHEMY_DATABASE_URI"] = _sqlalchemy_url(config["DATABASE_URL"])

    if not config.get("WECHAT_API_BASE_URL"):
        if config["FAKE_WECHAT"]:
            config["WECHAT_API_BASE_URL"] = wechat_api.ensure_running({
                config["WECHAT_MINIPROGRAM_APPID"]: config["WECHAT_MINIPROGRAM_SECRET"],
                config["WECHAT_OFFICIAL_APPID"]: config["WECHAT_OFFICIAL_SECRET"],
            })
        else:
            config["WECHAT_API_BASE_URL"] = DEFAULT_WECHAT_API_BASE_URL
    if not config["WECHAT_API_BASE_URL"].endswith("/"):
        config["WECHAT_API_BASE_URL"] += "/"
    if not config.get("DRAW_BEACON_URL"):
        config["DRAW_BEACON_URL"] = (beacon.ensure_running() if config.get("FAKE_BEACON")
                                     else DEFAULT_BEACON_URL)


def configure_signing_keys(app: APIFlask) -> None:
    """Sign with SECRET_KEY and still accept SECRET_KEY_FALLBACKS, everywhere we sign."""
    config = app.config
    config["SECRET_KEY_FALLBACKS"] = key_list(config.get("SECRET_KEY_FALLBACKS"))
    # Flask's session cookie reads SECRET_KEY_FALLBACKS itself. Flask-WTF takes a single
    # WTF_CSRF_SECRET_KEY and hands it to itsdangerous, which accepts a list of keys and
    # signs with the last: so an open console form's token outlives a rotation too.
    config["WTF_CSRF_SECRET_KEY"] = signing_keys(config)


def _sqlalchemy_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if not url.startswith("postgresql+"):
        raise ConfigError(f"DATABASE_URL must be a PostgreSQL URL, got {url.split(':')[0]}://...")
    return url


def register_extensions(app: APIFlask) -> None:
    """Bind the unbound extension objects to this app."""
    pii.init_app(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    redis_store.init_app(app)
    csrf.init_app(app)
    app.extensions["stock"] = Stock(app.extensions["stock_redis"], app.extensions["redis"])
    app.extensions["directory"] = Directory(app.extensions["redis"])
    app.extensions["rooms"] = Rooms(
        app.extensions["stock_redis"], app.config["SECRET_KEY"], app.extensions["stock"],
        fallback_keys=app.config.get("SECRET_KEY_FALLBACKS") or [],
        beacon_url=app.config["DRAW_BEACON_URL"])
    app.extensions["person_limit"] = Limiter(app.config["ATTEMPTS_PER_PERSON"])
    app.extensions["figures"] = Recorder(app.extensions["redis"])
    sms.init_app(app)
    wechat.init_app(app)


def register_blueprints(app: APIFlask) -> None:
    """Mount each surface under its prefix; dev tools only when DEV_TOOLS is on."""
    app.register_blueprint(miniprogram_api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(community.bp)
    app.register_blueprint(official_account.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(health.bp)
    metrics.init_app(app)  # /metrics, and the latency of every route that reaches Flask
    if app.config["DEV_TOOLS"]:
        app.register_blueprint(dev.bp)


def install_sold_out_shortcut(app: APIFlask) -> None:
    """Answer bookings for sold-out windows before Flask does any work (see directory)."""
    refusal = sold_out()
    body = json.dumps({"error": {"code": refusal.code, "message": refusal.message,
                                 "fields": {}}}, ensure_ascii=False).encode()
    # The plain booking request skips Flask; the shortcut sits before it.
    app.wsgi_app = FastBooking(app.wsgi_app, app, BOOKING_PATH)
    app.wsgi_app = FastPolls(app.wsgi_app, app)  # the waiting room's polls, from memory
    app.wsgi_app = SoldOutShortcut(app.wsgi_app, app.extensions["directory"], body)
    # A script hammering from one address is refused before anything else runs.
    app.wsgi_app = PerAddress(app.wsgi_app, Limiter(app.config["ATTEMPTS_PER_ADDRESS"]),
                              [BOOKING_PATH, ROOM_PATH])
    # Outside the shortcut, so its answers are counted too (the window dashboard's figures).
    app.wsgi_app = BookingFigures(app.wsgi_app, app.extensions["figures"], BOOKING_PATH,
                                  app.extensions["directory"])
    # Every answer, shortcut or not, carries its request id (core.tracing).
    app.wsgi_app = RequestIds(app.wsgi_app)
    if app.config["PROXY_HOPS"]:
        # Outermost: the client's address as the proxies in front saw it.
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def keep_the_environment_out(app: APIFlask) -> None:
    """Outermost of all: the app sees the request, never the process environment that
    granian copies into every request's environ (core.request_environ)."""
    app.wsgi_app = RequestEnvironOnly(app.wsgi_app)
