"""Redis clients from URLs: one server, a Sentinel-watched master, or a Redis Cluster.

- ``redis://[:password@]host:port/db``, ``rediss://…``, ``unix://…``: one server.
- ``redis+sentinel://[:password@]host:port[,host:port…]/service[/db]``: the master that
  the Sentinels at those addresses name for ``service``; the client asks them again after
  a failover.
- ``redis+cluster://[:password@]host:port[,host:port…]``: a Redis Cluster, found from any
  of those nodes. Only the booking hot path (``STOCK_REDIS_URL``) may use a cluster: RQ
  cannot (rq#862, #1942, #2050), so ``REDIS_URL`` stays one server or Sentinel.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

SENTINEL, CLUSTER = "redis+sentinel", "redis+cluster"


class RedisUrlError(ValueError):
    """A Redis URL this module cannot read."""


def _hosts(netloc: str) -> tuple[str | None, list[tuple[str, int]]]:
    password = None
    if "@" in netloc:
        credentials, netloc = netloc.rsplit("@", 1)
        password = unquote(credentials.split(":", 1)[-1]) or None
    hosts = []
    for part in netloc.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise RedisUrlError(f"expected host:port, got {part!r}")
        hosts.append((host.strip("[]"), int(port)))
    return password, hosts


def kind(url: str) -> str:
    """``cluster``, ``sentinel`` or ``single``."""
    scheme = url.split("://", 1)[0].lower()
    return {CLUSTER: "cluster", SENTINEL: "sentinel"}.get(scheme, "single")


def connect(url: str, *, decode: bool = True, **options) -> redis.Redis | RedisCluster:
    """A client for ``url``; ``options`` go to every connection (timeouts and the like)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == CLUSTER:
        password, hosts = _hosts(parts.netloc)
        options.pop("health_check_interval", None)
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in hosts],
                            password=password, decode_responses=decode,
                            require_full_coverage=False, **options)
    if scheme == SENTINEL:
        password, hosts = _hosts(parts.netloc)
        path = [p for p in parts.path.split("/") if p]
        if not path:
            raise RedisUrlError("a Sentinel URL names its service: redis+sentinel://h:p/mymaster")
        db = int(path[1]) if len(path) > 1 and path[1].isdigit() else 0
        timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
        sentinel = Sentinel(hosts, sentinel_kwargs=timeouts)
        return sentinel.master_for(path[0], db=db, password=password,
                                   decode_responses=decode, **options)
    if scheme not in ("redis", "rediss", "unix"):
        raise RedisUrlError(f"unknown Redis URL scheme {scheme}://")
    return redis.Redis.from_url(url, decode_responses=decode, **options)


def disconnect(client) -> None:
    """Close a client's connections (they reopen on the next command)."""
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        pool.disconnect()
    else:
        client.close()
