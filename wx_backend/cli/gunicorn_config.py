"""gunicorn's settings file for ``wx-backend serve`` (``--config`` with this file's path):
the hooks prometheus-client's multiprocess mode needs (``web.metrics``).

Loaded by path, so gunicorn's master process does not import the app. A server started
without ``wx-backend serve`` can use it too:
``PROMETHEUS_MULTIPROC_DIR=/run/wx-metrics gunicorn -c wx_backend/cli/gunicorn_config.py
wx_backend.wsgi:app``. ``serve`` calls ``clear_stale`` itself when it runs granian.
"""

import glob
import os

from prometheus_client import multiprocess

# The files prometheus-client writes: <kind>_<pid>.db, and gauge_<mode>_<pid>.db.
_KINDS = ("counter", "gauge", "histogram", "summary")


def on_starting(server):
    """Start from zero: the files of an earlier run would add their counts to this one's."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        clear_stale(path)


def clear_stale(path: str) -> None:
    """Make the metrics folder ``path``, or empty it of an earlier run's files."""
    os.makedirs(path, exist_ok=True)
    for kind in _KINDS:
        for stale in glob.glob(os.path.join(path, f"{kind}_*.db")):
            os.remove(stale)


def child_exit(server, worker):
    """A worker is gone: prometheus-client drops its live gauges (its counts stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
