"""Secrets stay out of requests: under both real web servers, with canary secrets in the
process environment, a view's ``request.environ`` holds none of their names or values, and
still holds the request (``core.request_environ``). The view is a probe route that only
the test target ``tests/environ_probe.py`` adds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from wx_backend.cli.main import granian_command, gunicorn_command
from wx_backend.core.pii import new_key_spec

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("DATABASE_URL", "REDIS_URL", "WECHAT_API_BASE_URL", "WECHAT_MINIPROGRAM_APPID",
            "WECHAT_MINIPROGRAM_SECRET", "WECHAT_OFFICIAL_APPID", "WECHAT_OFFICIAL_SECRET")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["granian", "gunicorn"])
def probed(request, base_config, migrated, tmp_path):
    """(server name, base URL, the canaries, the server's whole environment): the probe
    target under one real server, with canary secrets among its settings."""
    canaries = {"SECRET_KEY": f"canary-secret-{uuid.uuid4().hex}",
                "SECRET_KEY_FALLBACKS": f"canary-old-secret-{uuid.uuid4().hex}",
                "PII_KEY": new_key_spec("cn"), "PII_INDEX_KEY": new_key_spec("cx"),
                "SOME_TOKEN": f"canary-token-{uuid.uuid4().hex}",
                # Named like a header: granian would hand it over as one.
                "HTTP_X_DEPLOY_TOKEN": f"canary-header-{uuid.uuid4().hex}"}
    env = {**os.environ, **{name: str(base_config[name]) for name in SETTINGS}, **canaries,
           "WXB_MODE": "development", "WXB_INSTANCE_PATH": str(tmp_path / "instance"),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.environ.get("PYTHONPATH") or str(ROOT)}
    (tmp_path / "metrics").mkdir()
    port = _free_port()
    build = granian_command if request.param == "granian" else gunicorn_command
    command = build(f"127.0.0.1:{port}", 1, 2, False, target="tests.environ_probe:served",
                    folder=str(ROOT))
    log = tmp_path / "server.log"
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            if server.poll() is not None or time.time() > deadline:
                pytest.fail(f"{request.param} did not serve:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(url + "/healthz", timeout=5).ok:
                    break
            except requests.RequestException:  # not listening yet
                time.sleep(0.3)
        yield request.param, url, canaries, env
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_a_view_sees_the_request_and_none_of_the_process_environment(probed):
    server, url, canaries, env = probed

    seen = requests.get(url + "/probe/environ?campaign=7", timeout=10,
                        headers={"X-Request-Id": "probe-0001-environ",
                                 "Authorization": "Bearer resident-token"}).json()
    handed_over = requests.get(url + "/probe/server-environ", timeout=10).json()

    text = json.dumps(seen)
    for name, value in canaries.items():
        assert name not in seen, name
        assert value not in text, name
    from_environment = {name for name, value in env.items()
                        if name in seen and seen[name] == value}
    assert from_environment == set()
    assert (seen["REQUEST_METHOD"], seen["PATH_INFO"], seen["QUERY_STRING"]) == (
        "GET", "/probe/environ", "campaign=7")
    assert seen["HTTP_AUTHORIZATION"] == "Bearer resident-token"
    assert seen["wx.request_id"] == "probe-0001-environ"
    assert seen["REMOTE_ADDR"] == "127.0.0.1"
    if server == "granian":
        # What the app is kept from: granian copies the process environment into every
        # request's environ.
        assert {"SOME_TOKEN", "SECRET_KEY", "HTTP_X_DEPLOY_TOKEN"} <= set(handed_over)


def test_a_header_the_client_sends_passes_even_when_the_environment_holds_its_name(probed):
    server, url, canaries, env = probed

    seen = requests.get(url + "/probe/environ", timeout=10,
                        headers={"X-Deploy-Token": "what-the-client-sent"}).json()

    assert seen["HTTP_X_DEPLOY_TOKEN"] == "what-the-client-sent"
