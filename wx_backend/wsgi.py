"""WSGI entry point for gunicorn: ``gunicorn wx_backend.wsgi:app``."""

from wx_backend import create_app

app = create_app()
