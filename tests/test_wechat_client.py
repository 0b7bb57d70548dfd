"""The real wechatpy client against the fake WeChat API over HTTP: messages, tokens, errors."""

from __future__ import annotations

import multiprocessing

import pytest
import redis
import requests
from wechatpy.exceptions import APILimitedException, WeChatClientException

from tests.conftest import MINIPROGRAM, OFFICIAL
from wx_backend.core.wechat import LockedWeChatClient


@pytest.fixture
def official(app, fake_wechat, redis_client):
    return LockedWeChatClient(*OFFICIAL, redis_client, fake_wechat.base_url)


def _fake(fake_wechat, path, method="get", **kwargs):
    return requests.request(method, fake_wechat.base_url + path, timeout=5, **kwargs).json()


def test_messages_of_each_kind_reach_the_fake(app, official, fake_wechat, redis_client):
    miniprogram = LockedWeChatClient(*MINIPROGRAM, redis_client, fake_wechat.base_url)

    template = official.message.send_template("o-user", "TPL-PICKUP",
                                              {"code": {"value": "123456"}})
    official.message.send_text("o-user", "您好")
    miniprogram.wxa.send_subscribe_message("o-user", "SUB-RESULT",
                                           {"thing1": {"value": "已预约"}})

    messages = _fake(fake_wechat, "fake/messages")["messages"]
    assert [m["kind"] for m in messages] == ["template", "custom", "subscribe"]
    assert messages[0]["body"]["data"]["code"]["value"] == "123456"
    assert messages[0]["appid"] == OFFICIAL[0] and messages[2]["appid"] == MINIPROGRAM[0]
    assert template["msgid"] == messages[0]["msgid"]


def test_token_is_cached_in_redis_and_fetched_once(official, fake_wechat, redis_client):
    for _ in range(5):
        official.message.send_text("o-user", "hi")

    assert _fake(fake_wechat, "fake/stats")["tokens_issued"] == {OFFICIAL[0]: 1}
    assert redis_client.get(f"wechat:{OFFICIAL[0]}_access_token")


def test_token_expiring_mid_run_is_refreshed_once(official, fake_wechat, redis_client):
    official.message.send_text("o-user", "before")
    other_process = LockedWeChatClient(*OFFICIAL, redis_client, fake_wechat.base_url)
    other_process.message.send_text("o-user", "before too")

    _fake(fake_wechat, "fake/tokens/expire", method="post")
    official.message.send_text("o-user", "after")
    other_process.message.send_text("o-user", "after too")

    stats = _fake(fake_wechat, "fake/stats")
    assert stats["tokens_issued"] == {OFFICIAL[0]: 2}
    assert stats["messages"] == 4


def test_rate_limit_and_refusal_are_reported(official, fake_wechat, redis_client):
    miniprogram = LockedWeChatClient(*MINIPROGRAM, redis_client, fake_wechat.base_url)
    _fake(fake_wechat, "fake/faults", method="post",
          json={"path": "cgi-bin/message/template/send", "errcode": 45009, "times": 1})
    _fake(fake_wechat, "fake/refuse", method="post", json={"openid": "o-refuser"})

    with pytest.raises(APILimitedException):
        official.message.send_template("o-user", "TPL", {})
    with pytest.raises(WeChatClientException) as refused:
        miniprogram.wxa.send_subscribe_message("o-refuser", "SUB", {})

    assert refused.value.errcode == 43101
    assert official.message.send_template("o-user", "TPL", {})["errcode"] == 0


def test_invalid_template_and_recipient_use_wechat_codes(official):
    with pytest.raises(WeChatClientException) as no_template:
        official.message.send_template("o-user", "", {})
    with pytest.raises(WeChatClientException) as no_user:
        official.message.send_text("", "hi")

    assert (no_template.value.errcode, no_user.value.errcode) == (40037, 40003)


def _token_in_process(redis_url, base_url, barrier, queue):
    client = LockedWeChatClient(*OFFICIAL, redis.Redis.from_url(redis_url, decode_responses=True),
                                base_url)
    barrier.wait(timeout=60)
    queue.put(client.access_token)


def test_processes_refreshing_together_fetch_one_token(app, fake_wechat, services):
    # A slow token endpoint widens the window in which unguarded processes would all fetch.
    _fake(fake_wechat, "fake/latency", method="post",
          json={"path": "cgi-bin/token", "seconds": 0.3})
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    barrier = context.Barrier(6)
    workers = [context.Process(target=_token_in_process,
                               args=(services[1], fake_wechat.base_url, barrier, queue))
               for _ in range(6)]
    for worker in workers:
        worker.start()
    tokens = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    assert len(set(tokens)) == 1
    assert _fake(fake_wechat, "fake/stats")["tokens_issued"] == {OFFICIAL[0]: 1}
