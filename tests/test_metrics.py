"""``/metrics`` for the operator's Prometheus: booking answers counted where the window
dashboard counts them, each route timed once by its template, queues, messages and time to
sell out read at scrape time, who may read it, and gunicorn's workers added up."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from rq import SimpleWorker
from rq.serializers import JSONSerializer

from tests.worlds import auth, build, now, residents
from wx_backend import jobs, notify
from wx_backend.booking.figures import BOOKING_ROUTE
from wx_backend.extensions import db
from wx_backend.models import Window
from wx_backend.web import metrics

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = "wx_booking_answers_total"
LATENCY_COUNT = "wx_http_request_duration_seconds_count"


def read(text: str) -> dict:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(client, **options) -> dict:
    answer = client.get("/metrics", **options)
    assert answer.status_code == 200, answer.data
    assert answer.content_type.startswith("text/plain")
    return read(answer.get_data(as_text=True))


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def grew(before: dict, after: dict, name: str, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def answered(answer) -> str:
    """The code a resident was told, as the dashboard names it."""
    return "ok" if answer.status_code == 201 else answer.json["error"]["code"]


def test_booking_answers_are_counted_as_residents_were_told(app, client):
    world = build(app, quota=3)
    people = residents(app, 5)
    url = f"/api/v1/campaigns/{world.campaign_id}/bookings"
    told = Counter()

    def book(person=None, headers=None):
        answer = client.post(url, json={"store_id": world.store_ids[0]},
                             headers={**(auth(person.token) if person else {}),
                                      **(headers or {})})
        told[answered(answer)] += 1
        return answer

    before = scrape(client)
    assert book(people[0]).status_code == 201
    assert answered(book(people[0])) == "already_booked"
    assert answered(book()) == "login_required"
    # With an idempotency key the request goes through Flask's view, not the lean path.
    assert book(people[1], {"Idempotency-Key": "tap-7f3a"}).status_code == 201
    assert book(people[2]).status_code == 201
    assert answered(book(people[3])) == "sold_out"
    assert answered(book(people[4])) == "sold_out"  # answered by the sold-out shortcut
    after = scrape(client)

    campaign = str(world.campaign_id)
    assert told == {"ok": 3, "already_booked": 1, "sold_out": 2, "login_required": 1}
    for code, count in told.items():
        assert grew(before, after, ANSWERS, campaign=campaign, code=code) == count, code
    counted = {labels: n - before.get((name, labels), 0.0)
               for (name, labels), n in after.items() if name == ANSWERS}
    assert sum(counted.values()) == 7
    # Timed once each, whichever path answered.
    booking = {"route": BOOKING_ROUTE, "method": "POST"}
    assert grew(before, after, LATENCY_COUNT, status="2xx", **booking) == 3
    assert grew(before, after, LATENCY_COUNT, status="4xx", **booking) == 4


def test_made_up_campaigns_share_one_label(app, client):
    world = build(app)
    (person,) = residents(app, 1)
    before = scrape(client)

    for made_up in (987654, 987655, 10**17):
        answer = client.post(f"/api/v1/campaigns/{made_up}/bookings",
                             json={"store_id": world.store_ids[0]}, headers=auth(person.token))
        assert answer.status_code == 404
    after = scrape(client)

    code = answered(answer)
    assert grew(before, after, ANSWERS, campaign="other", code=code) == 3
    assert not [labels for name, labels in after if name == ANSWERS
                and ("campaign", "987654") in labels]


def test_the_booking_route_label_is_flasks_template(app):
    rules = [rule.rule for rule in app.url_map.iter_rules()
             if rule.endpoint.endswith("create_booking")]

    assert rules == [BOOKING_ROUTE]


def test_every_other_route_is_timed_by_its_template(app, client):
    world = build(app)
    before = scrape(client)

    assert client.get(f"/api/v1/campaigns/{world.campaign_id}").status_code == 200
    assert client.get(f"/api/v1/campaigns/{world.campaign_id}/stores").status_code == 200
    assert client.get("/api/v1/campaigns/77/no-such-page").status_code == 404
    assert client.open("/healthz", method="BREW").status_code == 405
    assert client.get("/healthz").status_code == 200
    after = scrape(client)

    def timed(route, method="GET", status="2xx"):
        return grew(before, after, LATENCY_COUNT, route=route, method=method, status=status)

    assert timed("/api/v1/campaigns/<int:campaign_id>") == 1
    assert timed("/api/v1/campaigns/<int:campaign_id>/stores") == 1
    assert timed("unmatched", status="4xx") == 1
    assert timed("unmatched", method="other", status="4xx") == 1
    assert timed("/healthz") == 1
    assert timed("/metrics") == 1  # the first scrape
    routes = {dict(labels)["route"] for name, labels in after if name == LATENCY_COUNT}
    assert not [route for route in routes if re.search(r"/\d+(/|$)", route)
                or "no-such-page" in route]


def test_with_a_token_only_its_bearer_may_read(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "prom-8c1d4e2f9a")

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers=auth("prom-0000000000"))
    right = client.get("/metrics", headers=auth("prom-8c1d4e2f9a"),
                       environ_base={"REMOTE_ADDR": "198.51.100.23"})

    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.json["error"]["code"] == "metrics_token_required"
    assert right.status_code == 200 and b"wx_job_queue_depth" in right.data


def test_without_a_token_only_this_machine_may_read(app, client):
    outside = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})

    assert outside.status_code == proxied.status_code == 403
    assert outside.json["error"]["code"] == "metrics_local_only"
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics").status_code == 200


def test_metrics_are_not_in_the_residents_api(client):
    assert "/metrics" not in client.get("/api/v1/openapi.json").json["paths"]


def test_job_queues_and_failed_jobs_are_what_rq_holds(app, client):
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with app.app_context():
        # A planned entry whose handler does not exist: a real worker runs it, and it fails.
        jobs.enqueue("run_once", "close-window:41", now().isoformat(), "no_such_handler", [])
        SimpleWorker([jobs.queue("default")], connection=jobs.rq_connection(),
                     serializer=JSONSerializer).work(burst=True)
        for signum, handler in handlers.items():  # the worker installed its own
            signal.signal(signum, handler)
        for minute in range(3):
            jobs.enqueue("run_periodic", "sweep", (now() + timedelta(minutes=minute)).isoformat())
        truth = jobs.depths()

    found = scrape(client)

    assert truth == {"notify": 0, "default": 3, "low": 0, "failed": 1}
    for queue in jobs.QUEUES:
        assert value(found, "wx_job_queue_depth", queue=queue) == truth[queue]
    assert value(found, "wx_jobs_failed", queue="default") == 1
    assert value(found, "wx_jobs_failed", queue="notify") == 0


def test_messages_by_status_follow_the_deliveries(app, client, sql):
    world = build(app)
    for person in residents(app, 3):
        booked = client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                             json={"store_id": world.store_ids[1]}, headers=auth(person.token))
        assert booked.status_code == 201
    with app.app_context():
        created = notify.confirm_recent(timedelta(minutes=5))
    waiting = scrape(client)

    with app.app_context():
        settled = notify.deliver(created)
    done = scrape(client)

    assert len(created) == 3
    assert value(waiting, "wx_deliveries_last_day", status="queued") == 3
    assert value(waiting, "wx_deliveries_last_day", status="sent") == 0
    assert settled["sent"] == 3
    assert sql("SELECT status, count(*) FROM deliveries GROUP BY status") == [("sent", 3)]
    assert value(done, "wx_deliveries_last_day", status="sent") == 3
    assert value(done, "wx_deliveries_last_day", status="queued") == 0
    assert ("wx_deliveries_last_day", (("status", "failed"),)) in done


def test_time_to_sell_out_is_shown_for_windows_that_sold_out(app, client):
    small = build(app, quota=2)
    large = build(app, quota=500)
    people = residents(app, 4)

    def book(world, person):
        return client.post(f"/api/v1/campaigns/{world.campaign_id}/bookings",
                           json={"store_id": world.store_ids[0]}, headers=auth(person.token))

    assert book(small, people[0]).status_code == 201
    earliest = time.time()
    assert book(small, people[1]).status_code == 201
    latest = time.time()
    assert answered(book(small, people[2])) == "sold_out"
    assert book(large, people[3]).status_code == 201
    app.extensions["figures"].flush()  # what the background thread does every second
    with app.app_context():
        opened = db.session.get(Window, small.window_id).opens_at.timestamp()

    found = scrape(client)

    seconds = value(found, "wx_window_sold_out_seconds", campaign=str(small.campaign_id),
                    window=str(small.window_id))
    assert earliest - opened - 0.01 <= seconds <= latest - opened + 0.01
    assert not [labels for name, labels in found if name == "wx_window_sold_out_seconds"
                and ("window", str(large.window_id)) in labels]


def _waiting_room(app):
    people = GaugeMetricFamily("wx_waiting_room_people", "People waiting", labels=["window"])
    people.add_metric(["31"], 1200)
    return [people]


def _unreachable(app):
    raise ConnectionError("the room's Redis went away")


def test_more_figures_join_the_scrape_and_a_broken_reader_costs_only_its_own(
        app, client, monkeypatch):
    monkeypatch.setattr(metrics, "SCRAPE_COLLECTORS",
                        [*metrics.SCRAPE_COLLECTORS, _waiting_room, _unreachable])

    found = scrape(client)

    assert value(found, "wx_waiting_room_people", window="31") == 1200
    assert value(found, "wx_scrape_collector_up", collector="_waiting_room") == 1
    assert value(found, "wx_scrape_collector_up", collector="_unreachable") == 0
    assert value(found, "wx_scrape_collector_up", collector="service_state") == 1
    assert ("wx_job_queue_depth", (("queue", "notify"),)) in found


# -- under gunicorn -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """``wx-backend serve`` on the test's database and Redis: two workers of ``server``."""

    def __init__(self, tmp_path: Path, base_config: dict, server: str = "granian",
                 **extra_env):
        self.server = server
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        keep = {name: value for name, value in os.environ.items()
                if name not in {"DATABASE_URL", "REDIS_URL", "STOCK_REDIS_URL", "CLOCK_OFFSET",
                                "PROMETHEUS_MULTIPROC_DIR", "METRICS_TOKEN"}}
        settings = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PII_KEY", "PII_INDEX_KEY",
                    "WECHAT_API_BASE_URL", "WECHAT_MINIPROGRAM_APPID",
                    "WECHAT_MINIPROGRAM_SECRET", "WECHAT_OFFICIAL_APPID",
                    "WECHAT_OFFICIAL_SECRET")
        self.env = {**keep, **{name: str(base_config[name]) for name in settings},
                    "WXB_MODE": "development", "WXB_INSTANCE_PATH": str(tmp_path / "instance"),
                    "LOG_LEVEL": "WARNING", **extra_env}
        self.process = None

    def start(self) -> Served:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wx_backend.cli.main", "serve", "--bind",
             f"127.0.0.1:{self.port}", "--workers", "2", "--threads", "4", "--no-jobs",
             "--no-access-log", "--server", self.server], cwd=ROOT, env=self.env,
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"wx-backend serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=5).ok:
                    return self
            except requests.RequestException:  # not listening yet
                time.sleep(0.3)
        pytest.fail(f"wx-backend serve did not answer:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()

    def scrape(self, **headers) -> dict:
        answer = requests.get(self.url + "/metrics", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return read(answer.text)


def _workers_heard(folder: Path) -> set[str]:
    """The processes that wrote latency figures into the multiprocess folder."""
    return {path.stem.rsplit("_", 1)[1] for path in folder.glob("histogram_*.db")}


def _each_worker(folder: Path, name: str, **labels) -> dict[str, float]:
    """A sample as each worker's own file holds it."""
    return {path.stem.rsplit("_", 1)[1]: value(
        {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
         for family in MultiProcessCollector.merge([str(path)]) for sample in family.samples},
        name, **labels) for path in folder.glob("histogram_*.db")}


def _wait_for_workers(served: Served, folder: Path, count: int = 2) -> None:
    """Send /healthz (a new connection each) until ``count`` workers have answered one."""
    deadline = time.time() + 60
    with ThreadPoolExecutor(4) as pool:
        while len(_workers_heard(folder)) < count:
            assert time.time() < deadline, f"one worker never answered: {_workers_heard(folder)}"
            list(pool.map(lambda _: requests.get(served.url + "/healthz", timeout=10),
                          range(4)))


def _probe(served: Served, times: int) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: requests.get(served.url + "/healthz", timeout=10),
                                range(times)))
    assert [a.status_code for a in answers] == [200] * times


HEALTHZ = {"route": "/healthz", "method": "GET", "status": "2xx"}


@pytest.mark.parametrize("server", ["gunicorn", "granian"])
def test_workers_are_added_up(app, base_config, tmp_path, server):
    world = build(app, quota=8)
    people = residents(app, 12)
    folder = tmp_path / "prometheus"  # made by gunicorn's on_starting hook, or by serve
    (folder / "counter_999999.db").parent.mkdir()
    (folder / "counter_999999.db").write_bytes(b"\0" * 8)  # an earlier run's: cleared
    token = {"Authorization": "Bearer prom-2b7e151628"}
    served = Served(tmp_path, base_config, server, PROMETHEUS_MULTIPROC_DIR=str(folder),
                    METRICS_TOKEN="prom-2b7e151628").start()
    try:
        assert not (folder / "counter_999999.db").exists()
        _wait_for_workers(served, folder)
        before = served.scrape(**token)
        _probe(served, 20)
        url = f"{served.url}/api/v1/campaigns/{world.campaign_id}/bookings"

        def book(person):
            answer = requests.post(url, json={"store_id": world.store_ids[2]},
                                   headers=auth(person.token), timeout=30)
            return "ok" if answer.status_code == 201 else answer.json()["error"]["code"]

        with ThreadPoolExecutor(6) as pool:
            told = Counter(pool.map(book, people))
            told.update(pool.map(book, people[:3]))  # the same people again
        denied = requests.get(served.url + "/metrics", timeout=10)
        found = served.scrape(**token)
        each = _each_worker(folder, LATENCY_COUNT, **HEALTHZ)
        # The server replaces a worker that stopped; what it had counted stays in the sum.
        os.kill(int(min(each)), signal.SIGTERM)
        _wait_for_workers(served, folder, 3)
        later = served.scrape(**token)
    finally:
        served.stop()

    assert denied.status_code == 401
    assert told["ok"] == 8 and sum(told.values()) == 15
    for code, count in told.items():
        assert value(found, ANSWERS, campaign=str(world.campaign_id), code=code) == count
    booking = {"route": BOOKING_ROUTE, "method": "POST"}
    assert (value(found, LATENCY_COUNT, status="2xx", **booking)
            + value(found, LATENCY_COUNT, status="4xx", **booking)) == 15
    assert grew(before, found, LATENCY_COUNT, **HEALTHZ) == 20
    # Both workers answered probes, and the scrape (made by one of them) adds up both.
    assert len(each) == 2 and all(each.values())
    assert sum(each.values()) == value(found, LATENCY_COUNT, **HEALTHZ)
    assert value(found, "wx_scrape_collector_up", collector="service_state") == 1
    for code, count in told.items():
        assert value(later, ANSWERS, campaign=str(world.campaign_id), code=code) == count
    assert "Traceback" not in served.log.read_text()


def test_serve_makes_its_own_metrics_folder_and_removes_it(app, base_config, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    served = Served(tmp_path, base_config, TMPDIR=str(scratch)).start()
    try:
        (folder,) = scratch.glob("wxb-metrics-*")
        _wait_for_workers(served, folder)
        before = served.scrape()
        _probe(served, 10)
        found = served.scrape()
    finally:
        code = served.stop()

    assert grew(before, found, LATENCY_COUNT, **HEALTHZ) == 10
    assert code == 0
    assert not folder.exists()
