"""WeChat API clients (wechatpy) for the mini-program and the official account.

The same code runs against WeChat and against the local fake: ``WECHAT_API_BASE_URL``
moves every endpoint, including the token URL that wechatpy writes out in full.

Access tokens live in Redis (wechatpy's ``RedisStorage``), shared by every process. wechatpy
refreshes a token whenever it finds none or WeChat says it is invalid, from every process
at once; WeChat then invalidates the token each of them just got. ``LockedWeChatClient``
takes a Redis lock around the refresh and, once it holds it, first looks whether another
process already stored a newer token.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis
import requests
from flask import Flask, current_app
from wechatpy import WeChatClient
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from wx_backend.config import DEFAULT_WECHAT_API_BASE_URL
from wx_backend.core.errors import NotAuthenticated, TooManyRequests, Unavailable

log = logging.getLogger(__name__)

# Refresh this long before WeChat's stated expiry, so no request carries a dying token.
TOKEN_MARGIN = 300


class LockedWeChatClient(WeChatClient):
    """A wechatpy client whose token refresh is serialised across processes."""

    def __init__(self, appid: str, secret: str, redis_client: redis.Redis, base_url: str,
                 timeout: int = 5):
        super().__init__(appid, secret, session=RedisStorage(redis_client, prefix="wechat"),
                         timeout=timeout)
        self._redis = redis_client
        self._local = threading.local()
        self.base_url = base_url
        self.API_BASE_URL = base_url + "cgi-bin/"
        for name in dir(self):
            api = getattr(self, name, None)
            if isinstance(api, BaseWeChatAPI) and getattr(api, "API_BASE_URL", None):
                api.API_BASE_URL = api.API_BASE_URL.replace(DEFAULT_WECHAT_API_BASE_URL,
                                                            base_url)

    @property
    def _lock_name(self) -> str:
        return f"wechat:token-lock:{self.appid}"

    def _handle_result(self, res, method=None, url=None, result_processor=None, **kwargs):
        # Remember which token this answer is about: if WeChat calls it invalid, only a
        # token different from it in the store proves that someone already refreshed.
        self._local.used_token = (kwargs.get("params") or {}).get("access_token")
        return super()._handle_result(res, method, url, result_processor, **kwargs)

    def fetch_access_token(self):
        """Get a new token unless another process stored one while we waited for the lock."""
        key = self.access_token_key
        seen = getattr(self._local, "used_token", None) or self.session.get(key)
        self._local.used_token = None
        with self._redis.lock(self._lock_name, timeout=30, blocking_timeout=35):
            stored = self.session.get(key)
            if stored and stored != seen:
                ttl = self._redis.ttl(self.session.key_name(key))
                self.expires_at = int(time.time()) + max(ttl, 0) + TOKEN_MARGIN
                return {"access_token": stored, "expires_in": max(ttl, 0)}
            result = self._fetch_access_token(
                url=self.base_url + "cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid,
                        "secret": self.secret},
            )
            expires_in = int(result.get("expires_in", 7200))
            lifetime = max(expires_in - TOKEN_MARGIN, 60)
            self.session.set(key, result["access_token"], lifetime)
            self.expires_at = int(time.time()) + expires_in
            log.info("fetched a new access token for %s", self.appid)
            return result


def init_app(app: Flask) -> None:
    """Create the two clients lazily; they share the app's Redis for tokens."""
    app.extensions["wechat_clients"] = {}


def _client(kind: str) -> LockedWeChatClient:
    clients = current_app.extensions["wechat_clients"]
    if kind not in clients:
        config = current_app.config
        prefix = "WECHAT_MINIPROGRAM" if kind == "miniprogram" else "WECHAT_OFFICIAL"
        clients[kind] = LockedWeChatClient(
            config[f"{prefix}_APPID"], config[f"{prefix}_SECRET"],
            current_app.extensions["redis"], config["WECHAT_API_BASE_URL"],
            timeout=config["WECHAT_TIMEOUT"],
        )
    return clients[kind]


def miniprogram_client() -> LockedWeChatClient:
    """The client for the mini-program's app id (login, subscribe messages)."""
    return _client("miniprogram")


def official_account_client() -> LockedWeChatClient:
    """The client for the official account's app id (template and customer messages)."""
    return _client("official")


@dataclass(frozen=True)
class WeChatSession:
    """Who ``wx.login`` says the user is."""

    openid: str
    unionid: str | None


def code_to_session(client: LockedWeChatClient, code: str) -> WeChatSession:
    """Exchange a ``wx.login`` code for the user's openid, in our error vocabulary."""
    try:
        result = client.wxa.code_to_session(code)
    except WeChatClientException as error:
        if error.errcode in (40029, 40163):
            raise NotAuthenticated("invalid_login_code",
                                   "登录凭证无效或已使用，请重新打开小程序登录") from None
        if error.errcode in (45011, 45009):
            raise TooManyRequests("busy", "登录人数太多，请稍后再试", retry_after=5) from None
        log.error("code2session failed: errcode=%s errmsg=%s", error.errcode, error.errmsg)
        raise Unavailable("wechat_unavailable", "微信登录暂时不可用，请稍后再试") from None
    except requests.RequestException as error:
        log.error("code2session unreachable: %s", error.__class__.__name__)
        raise Unavailable("wechat_unavailable", "微信登录暂时不可用，请稍后再试") from None
    openid = result.get("openid") if isinstance(result, dict) else None
    if not openid:
        raise Unavailable("wechat_unavailable", "微信登录暂时不可用，请稍后再试")
    return WeChatSession(openid, result.get("unionid") or None)
