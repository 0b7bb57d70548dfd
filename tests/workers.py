"""Real ``wx-backend worker`` processes for tests: started with the test configuration,
killed with real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from wx_backend.jobs.worker import kill_hard

ROOT = Path(__file__).resolve().parent.parent
PASSED = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PII_KEY", "PII_INDEX_KEY",
          "WECHAT_MINIPROGRAM_APPID", "WECHAT_MINIPROGRAM_SECRET", "WECHAT_OFFICIAL_APPID",
          "WECHAT_OFFICIAL_SECRET", "WECHAT_API_BASE_URL")


def worker_env(config: dict, **settings) -> dict:
    """The environment of a worker sharing the test app's database, Redis and secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WXB_", "SMS_"))}
    env.update({name: str(config[name]) for name in PASSED})
    env.update(WXB_MODE="development", WXB_INSTANCE_PATH=str(config["INSTANCE_PATH"]),
               FAKE_WECHAT="1", DEV_TOOLS="0", SWEEP_SECONDS="1", LOG_LEVEL="INFO",
               PYTHONPATH=str(ROOT))
    env.update({name: str(value) for name, value in settings.items()})
    return env


class WorkerProcess:
    """One ``python -m wx_backend.cli.main worker`` in its own process group."""

    def __init__(self, config: dict, log_dir: Path, name: str = "w", **settings):
        self.env = worker_env(config, **settings)
        self.log_path = log_dir / f"worker-{name}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wx_backend.cli", "worker"], cwd=ROOT, env=self.env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL the worker and everything it forked (work horse, scheduler)."""
        if self.process and self.process.poll() is None:
            kill_hard(self.process.pid)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(check: Callable[[], object], timeout: float, what: str,
             worker: WorkerProcess | None = None) -> object:
    """Poll ``check`` until it answers something true; fail with the worker's log if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    log = worker.output()[-4000:] if worker else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{log}")
