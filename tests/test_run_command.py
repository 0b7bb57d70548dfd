"""The README's first command, as a new user runs it: embedded PostgreSQL, Redis and fake
WeChat, the web server on a port, a login with a dev code, the profile flow, a booking in the demo
campaign, a restart that keeps all of it, and a clean stop. And what ``wx-backend serve``
refuses: production with a development door open, development on the network unasked."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from wx_backend.cli.main import is_loopback
from wx_backend.core.pii import new_key_spec

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, instance: Path, port: int, log: Path):
        self.instance, self.port, self.log = instance, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.process = None

    def start(self):
        env = {name: value for name, value in os.environ.items()
               if name not in {"DATABASE_URL", "REDIS_URL", "WXB_MODE", "WECHAT_API_BASE_URL"}}
        env.update(WXB_INSTANCE_PATH=str(self.instance), WXB_BIND=f"127.0.0.1:{self.port}",
                   WEB_CONCURRENCY="2")
        self.process = subprocess.Popen([str(ROOT / "scripts" / "run")], cwd=ROOT, env=env,
                                        stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"scripts/run exited early:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/api/v1/openapi.json", timeout=5).ok:
                    return
            except requests.RequestException:  # not listening yet, or still starting
                time.sleep(0.5)
        pytest.fail(f"server did not answer within 180 s:\n{self.log.read_text()[-3000:]}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def server(tmp_path):
    running = Server(tmp_path / "instance", _free_port(), tmp_path / "server.log")
    yield running
    running.stop()


def _login(url: str, who: str) -> dict:
    answer = requests.post(url + "/api/v1/auth/login", json={"code": f"dev-{who}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_run_command_serves_the_embedded_default_and_keeps_data(server):
    server.start()
    login = _login(server.url, "alice")
    assert login["profile_complete"] is False
    headers = {"Authorization": f"Bearer {login['token']}"}
    phone = "13812345678"
    sent = requests.post(server.url + "/api/v1/sms/codes", headers=headers, timeout=30,
                         json={"phone": phone, "purpose": "profile"})
    assert sent.status_code == 201
    outbox = requests.get(server.url + "/dev/outbox", params={"phone": phone}, timeout=30).json()
    code = re.search(r"验证码为(\d{6})", outbox["sms"][0]["text"]).group(1)
    profile = requests.put(server.url + "/api/v1/me/profile", headers=headers, timeout=30,
                           json={"name": "张三", "id_number": "11010519491231002X",
                                 "phone": phone, "sms_code": code})
    assert profile.status_code == 200, profile.text
    assert profile.json()["id_number"] == "110105********002X"
    campaign = requests.get(server.url + "/api/v1/campaigns", timeout=30).json()["campaigns"][0]
    stores = requests.get(f"{server.url}/api/v1/campaigns/{campaign['id']}/stores",
                          params={"lat": 34.78, "lng": 113.66}, timeout=30).json()["stores"]
    booked = requests.post(f"{server.url}/api/v1/campaigns/{campaign['id']}/bookings",
                           json={"store_id": stores[0]["id"]}, headers=headers, timeout=30)
    assert booked.status_code == 201, booked.text

    server.stop()
    assert server.process.returncode == 0
    assert (server.instance / "pgdata").is_dir()
    server.start()

    alice = _login(server.url, "alice")
    assert alice["profile_complete"] is True
    assert _login(server.url, "bob")["profile_complete"] is False
    mine = requests.get(server.url + "/api/v1/me/bookings", timeout=30,
                        headers={"Authorization": f"Bearer {alice['token']}"}).json()["bookings"]
    assert [b["reservation_no"] for b in mine] == [booked.json()["reservation_no"]]
    again = requests.post(f"{server.url}/api/v1/campaigns/{campaign['id']}/bookings",
                          json={"store_id": stores[1]["id"]}, timeout=30,
                          headers={"Authorization": f"Bearer {alice['token']}"})
    assert again.json()["error"]["code"] in {"already_booked", "cooldown"}


# -- what serve refuses to start ------------------------------------------------------------

def _bare_env(instance: Path, **settings) -> dict:
    """A shell with none of this machine's settings, and ``settings``."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR")
           if name in os.environ}
    env.update(PYTHONPATH=os.environ.get("PYTHONPATH") or str(ROOT),
               WXB_INSTANCE_PATH=str(instance), LOG_LEVEL="WARNING")
    env.update({name: str(value) for name, value in settings.items()})
    return env


def _production_env(instance: Path, database_url: str, redis_url: str, **settings) -> dict:
    """What the README's "Pointing it at real services" sets: secrets, WeChat's keys (the
    API at a local fake), a real SMS provider."""
    return _bare_env(instance, **{
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "SECRET_KEY": "prod-secret-key-0f9d2c", "PII_KEY": new_key_spec("p1"),
        "PII_INDEX_KEY": new_key_spec("px"), "WECHAT_MINIPROGRAM_APPID": "wxprodminiprog01",
        "WECHAT_MINIPROGRAM_SECRET": "prod-mp-secret",
        "WECHAT_OFFICIAL_APPID": "wxprodofficial01", "WECHAT_OFFICIAL_SECRET": "prod-oa-secret",
        "WECHAT_OFFICIAL_TOKEN": "prodofficialtoken",
        "WECHAT_OFFICIAL_AES_KEY": "cHJvZG9mZmljaWFsYWNjb3VudGFlc2tleWZvcnRlc3Q",
        "SMS_BACKEND": "tencent", "TENCENT_SMS_SECRET_ID": "AKIDprodsecretid",
        "TENCENT_SMS_SECRET_KEY": "prod-tencent-key", "TENCENT_SMS_SDK_APP_ID": "1400000001",
        "SMS_TEMPLATE_CODES": '{"verification_code": "1234567"}', **settings})


def _serve(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wx_backend.cli.main", "serve", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# Nothing is reachable at these URLs: a refusal must come before anything connects.
NOWHERE = ("postgresql://nobody@127.0.0.1:1/none", "redis://127.0.0.1:1/0")


@pytest.mark.parametrize("switches, refusals", [
    ({"FAKE_WECHAT": "1", "DEV_TOOLS": "1"}, ["FAKE_WECHAT is on", "DEV_TOOLS is on"]),
    # An operator who sets the URLs and secrets and nothing else: no SMS provider, and the
    # webhook would be plain for want of an AES key.
    ({"SMS_BACKEND": "", "WECHAT_OFFICIAL_AES_KEY": ""},
     ["SMS_BACKEND is not set", "WECHAT_OFFICIAL_MODE is plain",
      "WECHAT_OFFICIAL_ALLOW_PLAIN=1"]),
], ids=["dev-switches", "no-provider-plain-webhook"])
def test_serve_stops_production_with_a_development_door_open(tmp_path, switches, refusals):
    port = _free_port()
    env = _production_env(tmp_path / "instance", *NOWHERE, **switches)

    done = _serve(env, "--bind", f"127.0.0.1:{port}")

    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error: production mode"), done.stderr
    for refusal in refusals:
        assert refusal in done.stderr
    assert not _listening(port)


def test_other_commands_say_what_production_refuses_without_a_traceback(tmp_path):
    env = _production_env(tmp_path / "instance", *NOWHERE, DEV_TOOLS="1")

    done = subprocess.run([sys.executable, "-m", "wx_backend.cli.main", "worker"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 1
    assert done.stderr.startswith("Error: production mode"), done.stderr
    assert "DEV_TOOLS is on" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [["--help"], ["residents", "--help"],
                                  ["lottery", "verify", "--help"], ["serve", "--help"]])
def test_help_starts_nothing_and_writes_nothing(tmp_path, args):
    """A newcomer's first ``wx-backend --help`` in an empty folder, with nothing configured:
    the commands are listed, and no embedded PostgreSQL or Redis is started (they would
    write ``instance/``)."""
    env = {name: value for name, value in os.environ.items()
           if name not in {"DATABASE_URL", "REDIS_URL", "WXB_MODE", "WXB_INSTANCE_PATH"}}
    done = subprocess.run([sys.executable, "-m", "wx_backend.cli.main", *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: "), done.stdout
    if args == ["--help"]:
        listed = re.findall(r"^  ([a-z-]+) ", done.stdout, re.M)
        assert {"serve", "worker", "residents", "lottery", "db", "campaign"} <= set(listed)
        assert "pii-rotate" not in listed and "run" not in listed
    assert list(tmp_path.iterdir()) == []
    assert "embedded" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("bind", ["0.0.0.0:{port}", "[::]:{port}"])
def test_serve_keeps_development_mode_off_the_network_unless_told(tmp_path, bind):
    port = _free_port()
    instance = tmp_path / "instance"

    done = _serve(_bare_env(instance), "--bind", bind.format(port=port))

    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error: development mode on"), done.stderr
    assert "--dev-on-network" in done.stderr and "WXB_BIND" in done.stderr
    assert not (instance / "pgdata").exists()  # refused before any embedded server started
    assert not _listening(port)


@pytest.mark.parametrize("bind, local", [
    ("127.0.0.1:5000", True), ("127.0.0.2:5000", True), ("[::1]:5000", True),
    ("localhost:5000", True), ("unix:/run/wx-backend.sock", True),
    ("0.0.0.0:5000", False), ("[::]:5000", False), ("192.168.1.20:5000", False),
    ("10.0.0.11:8000", False), (":5000", False), ("no-such-host.invalid:5000", False),
])
def test_which_binds_stay_on_this_machine(bind, local):
    assert is_loopback(bind) is local


class _Running:
    """``wx-backend serve`` in the background, stopped with SIGTERM as an operator would."""

    def __init__(self, env: dict, log: Path, *args: str):
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wx_backend.cli.main", "serve", "--workers", "1",
             "--threads", "2", "--no-jobs", "--no-access-log", *args],
            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait_ready(self, url: str) -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"wx-backend serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(url + "/healthz", timeout=5).ok:
                    return
            except requests.RequestException:  # not listening yet
                time.sleep(0.3)
        pytest.fail(f"wx-backend serve did not answer:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def test_serve_runs_development_on_the_network_when_told(base_config, migrated, tmp_path):
    port = _free_port()
    env = _bare_env(tmp_path / "instance", WXB_MODE="development",
                    **{name: base_config[name] for name in (
                        "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PII_KEY", "PII_INDEX_KEY",
                        "WECHAT_API_BASE_URL", "WECHAT_MINIPROGRAM_APPID",
                        "WECHAT_MINIPROGRAM_SECRET", "WECHAT_OFFICIAL_APPID",
                        "WECHAT_OFFICIAL_SECRET")})
    server = _Running(env, tmp_path / "serve.log", "--bind", f"0.0.0.0:{port}",
                      "--dev-on-network")
    try:
        server.wait_ready(f"http://127.0.0.1:{port}")
        outbox = requests.get(f"http://127.0.0.1:{port}/dev/outbox", timeout=10)
    finally:
        code = server.stop()

    assert outbox.status_code == 200
    assert code == 0


def test_serve_starts_production_with_a_correct_configuration(base_config, migrated, tmp_path):
    port = _free_port()
    env = _production_env(tmp_path / "instance", base_config["DATABASE_URL"],
                          base_config["REDIS_URL"],
                          WECHAT_API_BASE_URL=base_config["WECHAT_API_BASE_URL"])
    server = _Running(env, tmp_path / "serve.log", "--bind", f"127.0.0.1:{port}")
    try:
        server.wait_ready(f"http://127.0.0.1:{port}")
        outbox = requests.get(f"http://127.0.0.1:{port}/dev/outbox", timeout=10)
    finally:
        code = server.stop()

    assert outbox.status_code == 404
    assert "(mode production" in server.log.read_text()
    assert code == 0
