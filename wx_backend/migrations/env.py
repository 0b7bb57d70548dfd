"""Alembic environment: runs migrations on the app's own engine and metadata."""

from __future__ import annotations

from alembic import context
from flask import current_app

from wx_backend.extensions import db

config = context.config


def run_offline() -> None:
    """Emit SQL to stdout (``wx-backend db upgrade --sql``)."""
    context.configure(url=db.engine.url.render_as_string(hide_password=False),
                      target_metadata=db.metadata, literal_binds=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Apply migrations in one transaction on the app's engine."""
    with db.engine.connect() as connection:
        options = {"compare_type": True,
                   **current_app.extensions["migrate"].configure_args}
        context.configure(connection=connection, target_metadata=db.metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
