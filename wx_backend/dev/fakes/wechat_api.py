"""A local stand-in for WeChat's API servers (api.weixin.qq.com), spoken to over HTTP.

The real wechatpy client talks to it; only the base URL differs from production. It
answers with WeChat's JSON shapes and error codes and records every message it receives.

- ``GET sns/jscode2session``: a code ``dev-<x>`` always gives the same openid for the same
  app and ``x``, and the same unionid for ``x`` in every app (as when the mini-program and
  the official account share an open-platform account). Any other code gives 40029.
- ``GET cgi-bin/token``: a fresh access token, valid 7200 s; counts issues per app.
- ``GET cgi-bin/user/info``: a follower's profile with the unionid, for openids of users
  the fake has seen log in (or was told of by ``POST /fake/users {"name"}``); 40003 else.
- ``POST cgi-bin/menu/create``, ``GET cgi-bin/menu/get``: the official account's menu.
- ``POST cgi-bin/message/template/send``, ``.../subscribe/send``, ``.../custom/send``:
  check the token (41001 missing, 40001 invalid), the body (47001), the recipient (40003)
  and the template (40037); subscribe messages to a user who refused give 43101.

Control endpoints under ``/fake/`` let tests and the dev outbox look inside and inject
faults: ``GET/DELETE /fake/messages``, ``POST /fake/faults`` (``{"path", "errcode",
"times", "http_status"}``), ``POST /fake/latency`` (``{"path", "seconds"}``),
``POST /fake/tokens/expire``, ``POST /fake/refuse``,
``GET /fake/stats``, ``POST /fake/reset``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field

from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

ERRORS = {
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    43101: "user refuse to accept the msg",
    40016: "invalid button size",
    46003: "menu no exist",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit",
    47001: "data format error",
    -1: "system error",
}

MESSAGE_PATHS = {
    "cgi-bin/message/template/send": "template",
    "cgi-bin/message/subscribe/send": "subscribe",
    "cgi-bin/message/custom/send": "custom",
}


def _stable_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return prefix + base64.urlsafe_b64encode(digest).decode()[:27]


def openid_for(appid: str, dev_name: str) -> str:
    """The openid the fake gives ``dev-<dev_name>`` in app ``appid``."""
    return _stable_id("o", appid, dev_name)


def unionid_for(dev_name: str) -> str:
    """The unionid the fake gives ``dev-<dev_name>`` in every app."""
    return _stable_id("u", "union", dev_name)


@dataclass
class _Fault:
    path: str
    errcode: int
    times: int
    http_status: int = 200


@dataclass
class FakeWeChatState:
    """Everything the fake knows; guarded by one lock because the server is threaded."""

    apps: dict[str, str]
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    tokens_issued: dict[str, int] = field(default_factory=dict)
    messages: list[dict] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    latency: dict[str, float] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    menu: dict | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_msgid: int = 1000

    def take_fault(self, path: str) -> _Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path == path and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None


def _error(errcode: int, status: int = 200):
    return jsonify(errcode=errcode, errmsg=ERRORS.get(errcode, "error")), status


def create_fake_app(apps: dict[str, str]) -> Flask:
    """The fake's WSGI app, knowing the given ``{appid: secret}`` pairs."""
    app = Flask("fake_wechat")
    app.json.ensure_ascii = False
    state = FakeWeChatState(apps=dict(apps))
    app.extensions["fake_wechat"] = state

    @app.before_request
    def injected_fault():
        path = request.path.lstrip("/")
        if path.startswith("fake/"):
            return None
        delay = state.latency.get(path)
        if delay:
            time.sleep(delay)
        fault = state.take_fault(path)
        if fault is not None:
            if fault.http_status >= 500:
                return "upstream error", fault.http_status
            return _error(fault.errcode, fault.http_status)
        return None

    @app.get("/sns/jscode2session")
    def jscode2session():
        appid = request.args.get("appid", "")
        if appid not in state.apps:
            return _error(40013)
        if request.args.get("secret") != state.apps[appid]:
            return _error(40125)
        if request.args.get("grant_type") != "authorization_code":
            return _error(40002)
        code = request.args.get("js_code", "")
        if not code.startswith("dev-") or len(code) <= 4 or len(code) > 128:
            return _error(40029)
        name = code[4:]
        _know(name)
        return jsonify(openid=openid_for(appid, name), unionid=unionid_for(name),
                       session_key=base64.b64encode(secrets.token_bytes(16)).decode())

    def _know(name: str) -> None:
        with state.lock:
            for known_app in state.apps:
                state.users[openid_for(known_app, name)] = name

    def _token_owner() -> str | None:
        token = request.args.get("access_token")
        with state.lock:
            owner = state.tokens.get(token or "")
        return owner[0] if owner is not None and owner[1] >= time.time() else None

    @app.get("/cgi-bin/user/info")
    def user_info():
        if not request.args.get("access_token"):
            return _error(41001)
        appid = _token_owner()
        if appid is None:
            return _error(40001)
        openid = request.args.get("openid", "")
        with state.lock:
            name = state.users.get(openid)
        if name is None or openid != openid_for(appid, name):
            return _error(40003)
        return jsonify(subscribe=1, openid=openid, unionid=unionid_for(name),
                       nickname="", language="zh_CN", subscribe_time=int(time.time()))

    @app.post("/cgi-bin/menu/create")
    def menu_create():
        if _token_owner() is None:
            return _error(40001)
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            return _error(47001)
        if not isinstance(body, dict) or not isinstance(body.get("button"), list) \
                or not 1 <= len(body["button"]) <= 3:
            return _error(40016 if isinstance(body, dict) else 47001)
        with state.lock:
            state.menu = body
        return jsonify(errcode=0, errmsg="ok")

    @app.get("/cgi-bin/menu/get")
    def menu_get():
        if _token_owner() is None:
            return _error(40001)
        with state.lock:
            menu = state.menu
        if menu is None:
            return _error(46003)
        return jsonify(menu=menu)

    @app.post("/fake/users")
    def add_user():
        _know(str(request.get_json(force=True)["name"]))
        return jsonify(ok=True)

    @app.get("/cgi-bin/token")
    def token():
        appid = request.args.get("appid", "")
        if request.args.get("grant_type") != "client_credential":
            return _error(40002)
        if appid not in state.apps:
            return _error(40013)
        if request.args.get("secret") != state.apps[appid]:
            return _error(40125)
        value = secrets.token_urlsafe(48)
        with state.lock:
            state.tokens[value] = (appid, time.time() + 7200)
            state.tokens_issued[appid] = state.tokens_issued.get(appid, 0) + 1
        return jsonify(access_token=value, expires_in=7200)

    def message_endpoint(path: str):
        kind = MESSAGE_PATHS[path]

        def receive():
            token = request.args.get("access_token")
            if not token:
                return _error(41001)
            with state.lock:
                owner = state.tokens.get(token)
            if owner is None or owner[1] < time.time():
                return _error(40001)
            try:
                body = json.loads(request.get_data(as_text=True))
            except ValueError:
                return _error(47001)
            if not isinstance(body, dict):
                return _error(47001)
            touser = body.get("touser")
            if not isinstance(touser, str) or not touser.strip():
                return _error(40003)
            if kind in ("template", "subscribe") and not body.get("template_id"):
                return _error(40037)
            if kind == "custom" and not body.get("msgtype"):
                return _error(47001)
            with state.lock:
                if kind == "subscribe" and touser in state.refused:
                    return _error(43101)
                state.next_msgid += 1
                msgid = state.next_msgid
                state.messages.append({"kind": kind, "appid": owner[0], "touser": touser,
                                       "body": body, "msgid": msgid, "at": time.time()})
            if kind == "template":
                return jsonify(errcode=0, errmsg="ok", msgid=msgid)
            return jsonify(errcode=0, errmsg="ok")

        receive.__name__ = f"receive_{kind}"
        app.add_url_rule("/" + path, view_func=receive, methods=["POST"])

    for message_path in MESSAGE_PATHS:
        message_endpoint(message_path)

    @app.get("/fake/messages")
    def list_messages():
        kind = request.args.get("kind")
        touser = request.args.get("touser")
        with state.lock:
            found = [m for m in state.messages
                     if (kind is None or m["kind"] == kind)
                     and (touser is None or m["touser"] == touser)]
        return jsonify(messages=found)

    @app.delete("/fake/messages")
    def clear_messages():
        with state.lock:
            state.messages.clear()
        return jsonify(ok=True)

    @app.post("/fake/faults")
    def add_fault():
        spec = request.get_json(force=True)
        fault = _Fault(path=spec["path"].lstrip("/"), errcode=int(spec.get("errcode", -1)),
                       times=int(spec.get("times", 1)),
                       http_status=int(spec.get("http_status", 200)))
        with state.lock:
            state.faults.append(fault)
        return jsonify(ok=True)

    @app.post("/fake/latency")
    def set_latency():
        spec = request.get_json(force=True)
        with state.lock:
            state.latency[spec["path"].lstrip("/")] = float(spec["seconds"])
        return jsonify(ok=True)

    @app.post("/fake/tokens/expire")
    def expire_tokens():
        with state.lock:
            expired = len(state.tokens)
            state.tokens.clear()
        return jsonify(expired=expired)

    @app.post("/fake/refuse")
    def refuse():
        with state.lock:
            state.refused.add(request.get_json(force=True)["openid"])
        return jsonify(ok=True)

    @app.get("/fake/stats")
    def stats():
        with state.lock:
            return jsonify(tokens_issued=dict(state.tokens_issued),
                           messages=len(state.messages))

    @app.post("/fake/reset")
    def reset():
        with state.lock:
            state.tokens.clear()
            state.tokens_issued.clear()
            state.messages.clear()
            state.faults.clear()
            state.refused.clear()
            state.latency.clear()
            state.users.clear()
            state.menu = None
        return jsonify(ok=True)

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


class FakeWeChatServer:
    """Runs the fake on 127.0.0.1 in a daemon thread; ``base_url`` ends with a slash."""

    def __init__(self, apps: dict[str, str], port: int = 0):
        self.app = create_fake_app(apps)
        self._server = make_server("127.0.0.1", port, self.app, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="fake-wechat", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    @property
    def state(self) -> FakeWeChatState:
        return self.app.extensions["fake_wechat"]

    def start(self) -> "FakeWeChatServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_running: FakeWeChatServer | None = None
_running_lock = threading.Lock()


def ensure_running(apps: dict[str, str]) -> str:
    """Start the process's one fake server if it is not up yet; return its base URL."""
    global _running
    with _running_lock:
        if _running is None:
            _running = FakeWeChatServer(apps).start()
        else:
            _running.state.apps.update(apps)
        return _running.base_url
