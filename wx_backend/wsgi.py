"""The WSGI entry point for every web server: ``wx_backend.wsgi:app``, which ``wx-backend
serve`` hands to granian (the default) or gunicorn.

Each worker process builds the app, then the chat-bot's FAQ matcher (so no resident's message waits
half a second for jieba and pypinyin to load), then moves everything it has made so far
out of the garbage collector's sight (``gc.freeze``): the dictionaries of those libraries
are hundreds of thousands of long-lived objects that every full collection would otherwise
walk again, on the hot path of some unlucky request.
"""

import gc
import logging

from wx_backend import create_app
from wx_backend.extensions import db, redis_store
from wx_backend.official_account import knowledge

app = create_app()


def _warm(app) -> None:
    try:
        with app.app_context():
            version = redis_store.client.get(knowledge.VERSION_KEY) or "0"
            knowledge.index(db.session, version)
            db.session.remove()
    except Exception:  # noqa: BLE001 - a worker must start even if the database is away
        logging.getLogger(__name__).warning("FAQ matcher not built ahead; it is built at the "
                                            "first message")


_warm(app)
gc.freeze()
