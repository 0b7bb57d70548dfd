"""Fixtures: a real PostgreSQL schema and Redis database per run, the fake WeChat API and
the fake randomness beacon over HTTP, the app and its client, and helpers that act as
residents.

Where the services come from:
- ``TEST_DATABASE_URL`` / ``TEST_REDIS_URL`` when set;
- otherwise the machine's PostgreSQL (127.0.0.1:5432, database ``test``) and Redis
  (127.0.0.1:6379, database 13, which the tests flush);
- if those are unreachable: with ``CI=true`` the run stops at once with a clear message,
  elsewhere the embedded servers start in a temporary folder.
Each run migrates a fresh schema of its own and drops it at the end.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import uuid
from datetime import timedelta
from urllib.parse import quote, urlsplit

import psycopg
import pytest
import redis
import requests
from sqlalchemy import text
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.browsers import CHINESE, CHROMIUM
from tests.factories import IdNumbers
from tests.worlds import auth, now, store_csv
from wx_backend import create_app
from wx_backend.campaigns import manage
from wx_backend.campaigns.rules import load_preset
from wx_backend.core.pii import new_key_spec
from wx_backend.dev.clusters import LocalCluster
from wx_backend.dev.fakes.beacon import FakeBeaconServer
from wx_backend.dev.fakes.wechat_api import FakeWeChatServer
from wx_backend.extensions import db
from wx_backend.identity.accounts import create_community_staff, create_staff
from wx_backend.models import Store

MINIPROGRAM = ("wxtestminiprog01", "test-mp-secret")
OFFICIAL = ("wxtestofficial01", "test-oa-secret")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0),
                                      timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """(PostgreSQL URL of a fresh migrated-to-be schema, Redis URL) for this run."""
    database = os.environ.get("TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
    if not (_reachable(database) and _reachable(redis_url)):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.exit(
                f"CI=true but PostgreSQL ({database}) or Redis ({redis_url}) is not reachable; "
                "start them (see README) or set TEST_DATABASE_URL / TEST_REDIS_URL",
                returncode=3,
            )
        from wx_backend.core import embedded

        instance = str(tmp_path_factory.mktemp("embedded"))
        database = embedded.start_postgres(instance).replace("+psycopg", "")
        redis_url = embedded.start_redis(instance)

    schema = f"wxb_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in database else "?"
    scoped = f"{database}{separator}options={quote(f'-csearch_path={schema}')}"
    yield scoped, redis_url, schema, database
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def fake_wechat():
    """The fake WeChat API, on its own port, for the whole run."""
    server = FakeWeChatServer(dict([MINIPROGRAM, OFFICIAL])).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_beacon():
    """The fake randomness beacon (a round every 3 s), on its own port, for the whole run:
    scheduled draws and waiting rooms take their randomness from it."""
    server = FakeBeaconServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_config(services, fake_wechat, fake_beacon, tmp_path_factory):
    database, redis_url, _, _ = services
    return {
        "WXB_MODE": "development",
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
        "SECRET_KEY": "test-secret",
        "PII_KEY": new_key_spec("t1"),
        "PII_INDEX_KEY": new_key_spec("ix"),
        "WECHAT_MINIPROGRAM_APPID": MINIPROGRAM[0],
        "WECHAT_MINIPROGRAM_SECRET": MINIPROGRAM[1],
        "WECHAT_OFFICIAL_APPID": OFFICIAL[0],
        "WECHAT_OFFICIAL_SECRET": OFFICIAL[1],
        "WECHAT_API_BASE_URL": fake_wechat.base_url,
        "DRAW_BEACON_URL": fake_beacon.base_url,
        "FAKE_WECHAT": True,
        "DEV_TOOLS": True,
        "TESTING": True,
        # Every test client comes from 127.0.0.1, and the session's app outlives a test:
        # the abuse limits are off here and checked on apps of their own (test_waiting_room).
        "ATTEMPTS_PER_PERSON": 0,
        "ATTEMPTS_PER_ADDRESS": 0,
        # Every test's residents ask for their SMS codes from 127.0.0.1 too (the other SMS
        # limits stay on; the address's is checked on an app of its own, test_sms_codes).
        "SMS_CODES_PER_ADDRESS": 0,
    }


@pytest.fixture(scope="session")
def migrated(base_config):
    """Apply every migration once to the run's schema."""
    from flask_migrate import upgrade

    app = create_app(base_config)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()
    return True


@pytest.fixture(scope="session")
def make_app(base_config, migrated):
    """Build an app with extra settings over the test configuration."""
    def build(**overrides):
        return create_app({**base_config, **overrides})
    return build


@pytest.fixture(scope="session")
def session_app(make_app):
    return make_app()


def _fresh(app, fake_wechat, cluster=None):
    """Empty the database, Redis (and the stock's cluster) and the fake WeChat."""
    from wx_backend.official_account import bot, knowledge

    with app.app_context():
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        knowledge.seed(db.session)
        db.session.commit()
        app.extensions["redis"].flushdb()
        if cluster is not None:
            cluster.flush()
        app.extensions["directory"].forget()
        app.extensions["rooms"].forget()
        bot.forget_texts()
    requests.post(fake_wechat.base_url + "fake/reset", timeout=5)
    return app


@pytest.fixture
def app(session_app, fake_wechat):
    """The app, with an empty database, Redis and fake WeChat for each test."""
    yield _fresh(session_app, fake_wechat)


@pytest.fixture
def single_app(session_app, fake_wechat):
    """The same as ``app``, by another name, for modules that run on several backends."""
    yield _fresh(session_app, fake_wechat)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A local Redis Cluster: three masters with a replica each (wx_backend/dev/clusters.py)."""
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def cluster_session_app(make_app, redis_cluster):
    return make_app(STOCK_REDIS_URL=redis_cluster.url)


@pytest.fixture
def cluster_app(cluster_session_app, redis_cluster, fake_wechat):
    """The app with its booking stock on the local Redis Cluster, emptied for each test."""
    redis_cluster.wait_healthy()
    yield _fresh(cluster_session_app, fake_wechat, redis_cluster)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def redis_client(app) -> redis.Redis:
    return app.extensions["redis"]


@pytest.fixture
def sql(services):
    """Run SQL on the test schema directly, outside the app (as a DBA would)."""
    database, _, schema, _ = services
    plain = re.sub(r"\+psycopg", "", database)

    def run(statement: str, *params):
        with psycopg.connect(plain, autocommit=True) as connection:
            return connection.execute(statement, params or None).fetchall()
    return run


@pytest.fixture
def ids():
    """Valid, distinct resident ID numbers."""
    return IdNumbers()


class Residents:
    """Acts as residents through the HTTP API: log in, get SMS codes, fill the profile."""

    def __init__(self, client):
        self.client = client

    def login(self, who: str) -> str:
        answer = self.client.post("/api/v1/auth/login", json={"code": f"dev-{who}"})
        assert answer.status_code == 200, answer.json
        return answer.json["token"]

    @staticmethod
    def headers(token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    def request_code(self, token: str, phone: str, purpose: str = "profile"):
        return self.client.post("/api/v1/sms/codes", json={"phone": phone, "purpose": purpose},
                                headers=self.headers(token))

    def latest_code(self, phone: str) -> str:
        outbox = self.client.get("/dev/outbox", query_string={"phone": phone}).json
        return re.search(r"验证码为(\d{6})", outbox["sms"][0]["text"]).group(1)

    def code_for(self, token: str, phone: str) -> str:
        answer = self.request_code(token, phone)
        assert answer.status_code == 201, answer.json
        return self.latest_code(phone)

    def put_profile(self, token: str, **fields):
        return self.client.put("/api/v1/me/profile", json=fields, headers=self.headers(token))

    def profile(self, token: str):
        return self.client.get("/api/v1/me/profile", headers=self.headers(token))

    def verified(self, who: str, id_number: str, phone: str, name: str = "张三") -> str:
        token = self.login(who)
        answer = self.put_profile(token, name=name, id_number=id_number, phone=phone,
                                  sms_code=self.code_for(token, phone))
        assert answer.status_code == 200, answer.json
        return token


@pytest.fixture
def residents(client):
    return Residents(client)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


@pytest.fixture
def serve():
    """Serve any app on a real threaded HTTP server: ``serve(app)`` answers its base URL;
    every server stops when the test ends."""
    servers = []

    def start(wsgi_app) -> str:
        server = make_server("127.0.0.1", 0, wsgi_app, threaded=True,
                             request_handler=_QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def live_server(app, serve):
    """The app on a real threaded HTTP server, for tests that fire parallel requests."""
    return serve(app)


@pytest.fixture
def browser():
    """Debian's Chromium, in Chinese, through Playwright (tests/browsers.py)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, **CHINESE)
        yield chromium
        chromium.close()


QUEUE_PASSWORD = "a long enough password"


@pytest.fixture
def queue_world(app, client) -> dict:
    """A Shanghai (queue) campaign of two pharmacies, the first one's pharmacist, and the
    committees of 金水区 and 二七区, each signed in through the staff APIs."""
    with app.app_context():
        campaign = manage.create_campaign(db.session, "shanghai-test", load_preset("shanghai"),
                                             now() - timedelta(hours=1), preset="shanghai")
        manage.import_stores(db.session, campaign, store_csv([100, 100]), 100)
        stores = sorted(db.session.scalars(db.select(Store.id)
                                           .where(Store.campaign_id == campaign.id)))
        create_staff(db.session, "pharmacy.0", QUEUE_PASSWORD, stores[0])
        create_community_staff(db.session, "jinshui.c", QUEUE_PASSWORD, "410105")
        create_community_staff(db.session, "erqi.c", QUEUE_PASSWORD, "410103")
        db.session.commit()
        campaign_id = campaign.id

    def login(url, name):
        answer = client.post(url, json={"username": name, "password": QUEUE_PASSWORD})
        assert answer.status_code == 200, answer.json
        return auth(answer.json["token"])

    return {"campaign": campaign_id, "stores": stores,
            "pharmacy": login("/api/v1/staff/login", "pharmacy.0"),
            "committee": login("/api/v1/community/login", "jinshui.c"),
            "other_committee": login("/api/v1/community/login", "erqi.c")}
