"""Redis URLs: one server, Sentinel, a cluster; and which setting may name which."""

from __future__ import annotations

import pytest
from redis.cluster import RedisCluster

from wx_backend.config import Config, ConfigError
from wx_backend.core.redis_urls import RedisUrlError, connect, kind


def test_a_cluster_url_reaches_the_cluster_from_any_of_its_nodes(redis_cluster):
    client = connect(redis_cluster.url)
    assert isinstance(client, RedisCluster)
    for n in range(30):  # keys on every shard
        client.set(f"wx:url-test:{n}", n)
    assert [int(client.get(f"wx:url-test:{n}")) for n in range(30)] == list(range(30))
    one_node = redis_cluster.url.split(",")[0]
    assert connect(one_node).get("wx:url-test:7") == "7"


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://127.0.0.1:6379/0", "single"), ("rediss://cache:6380/1", "single"),
    ("unix:///run/redis.sock", "single"), ("redis+sentinel://a:26379,b:26379/jobs/2",
                                           "sentinel"),
    ("redis+cluster://10.0.0.1:7000,10.0.0.2:7000", "cluster"),
])
def test_the_kind_of_each_url(url, expected):
    assert kind(url) == expected


@pytest.mark.parametrize(("url", "words"), [
    ("memcached://127.0.0.1:11211", "unknown Redis URL scheme"),
    ("redis+sentinel://127.0.0.1:26379", "names its service"),
    ("redis+cluster://127.0.0.1", "expected host:port"),
])
def test_a_url_that_cannot_work_is_refused_plainly(url, words):
    with pytest.raises(RedisUrlError, match=words):
        connect(url)


def test_rq_cannot_live_on_a_cluster_so_redis_url_refuses_one():
    with pytest.raises(ConfigError, match="STOCK_REDIS_URL"):
        Config({"REDIS_URL": "redis+cluster://127.0.0.1:7000",
                "DATABASE_URL": "postgresql://root@127.0.0.1/test"})
    settings = Config({"REDIS_URL": "redis://127.0.0.1:6379/0",
                       "STOCK_REDIS_URL": "redis+cluster://127.0.0.1:7000",
                       "DATABASE_URL": "postgresql://root@127.0.0.1/test"})
    assert settings.STOCK_REDIS_URL.startswith("redis+cluster://")
