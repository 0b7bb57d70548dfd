"""Local Redis topologies for the tests and the booking benchmark, from Debian's
``redis-server`` and ``redis-cli``:
a Redis Cluster (masters with one replica each) and a Sentinel-watched master with its
replica. Nothing is persisted; every process runs in a temporary folder and is stopped at
the end."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

import redis


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Free ports below 55536 whose cluster bus port (+10000) is free too."""
    chooser = random.Random()
    ports: list[int] = []
    while len(ports) < count:
        port = chooser.randrange(20000, 45000)
        if port not in ports and _free(port) and _free(port + 10000):
            ports.append(port)
    return ports


def _wait(check, what: str, seconds: float = 30) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


class Server:
    """One redis-server process."""

    def __init__(self, folder: Path, port: int, *extra: str):
        self.folder, self.port, self.extra = folder, port, extra
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> Server:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder), "--protected-mode", "no",
             *self.extra], stdout=(self.folder / "log").open("ab"),
            stderr=subprocess.STDOUT)
        _wait(lambda: self.client().ping(), f"redis-server on {self.port}")
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class LocalCluster:
    """``masters`` masters with one replica each; a node that fails is replaced by its
    replica after about a second (``cluster-node-timeout`` 1000 ms)."""

    def __init__(self, folder: Path, masters: int = 3, replicas: int = 1, *extra: str):
        ports = free_ports(masters * (1 + replicas))
        self.servers = [Server(folder / str(p), p, "--cluster-enabled", "yes",
                               "--cluster-config-file", f"nodes-{p}.conf",
                               "--cluster-node-timeout", "1000",
                               "--cluster-require-full-coverage", "no",
                               "--cluster-replica-validity-factor", "0", *extra)
                        for p in ports]
        self.masters, self.replicas = masters, replicas

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def start(self) -> LocalCluster:
        for server in self.servers:
            server.start()
        subprocess.run(["redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{s.port}" for s in self.servers),
                        "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        self.wait_healthy()
        return self

    def alive(self) -> list[Server]:
        return [s for s in self.servers if s.process and s.process.poll() is None]

    def wait_healthy(self, seconds: float = 30) -> None:
        def every_node_ok():
            return all(s.client().cluster("info")["cluster_state"] == "ok"
                       for s in self.alive())
        _wait(every_node_ok, "cluster_state:ok", seconds)

    def primaries(self) -> list[Server]:
        """The live nodes that serve slots now."""
        found = []
        for server in self.alive():
            role = server.client().execute_command("ROLE")[0]
            if role == "master":
                found.append(server)
        return found

    def flush(self) -> None:
        for server in self.primaries():
            server.client().flushall()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


class LocalSentinel:
    """A master, its replica and two Sentinels watching them (quorum 1) as ``service``."""

    def __init__(self, folder: Path, service: str = "jobs"):
        master, replica, *sentinels = free_ports(4)
        self.service = service
        self.master = Server(folder / "master", master)
        self.replica = Server(folder / "replica", replica, "--replicaof", "127.0.0.1",
                              str(master))
        self.sentinel_ports = sentinels
        self.sentinels = []
        for port in sentinels:
            conf = folder / f"sentinel-{port}" / "sentinel.conf"
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(f"port {port}\nbind 127.0.0.1\n"
                            f"sentinel monitor {service} 127.0.0.1 {master} 1\n"
                            f"sentinel down-after-milliseconds {service} 1000\n"
                            f"sentinel failover-timeout {service} 5000\n")
            self.sentinels.append((port, conf))
        self.processes: list[subprocess.Popen] = []

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/{db}"

    def start(self) -> LocalSentinel:
        self.master.start()
        self.replica.start()
        _wait(lambda: self.replica.client().info("replication")["master_link_status"] == "up",
              "replica in sync")
        for port, conf in self.sentinels:
            self.processes.append(subprocess.Popen(
                ["redis-server", str(conf), "--sentinel"],
                stdout=(conf.parent / "log").open("ab"), stderr=subprocess.STDOUT))
            _wait(lambda port=port: redis.Redis(port=port).ping(), f"sentinel {port}")
        return self

    def current_master_port(self) -> int:
        answer = redis.Redis(port=self.sentinel_ports[0]).sentinel_get_master_addr_by_name(
            self.service)
        return int(answer[1])

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
            process.wait(10)
        self.replica.stop()
        self.master.stop()
