"""The README's first command, as a new user runs it: embedded PostgreSQL, Redis and fake
WeChat, the web server on a port, a login with a dev code, the profile flow, a booking in the demo
campaign, a restart that keeps all of it, and a clean stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

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
