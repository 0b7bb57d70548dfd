"""Every model, importable from one place (Alembic and the app import this module)."""

from wx_backend.models.identity import Resident
from wx_backend.models.sms import OutboxSms

__all__ = ["OutboxSms", "Resident"]
