"""Every model, importable from one place (Alembic and the app import this module)."""

from wx_backend.models.bookings import BOOKING_STATUSES, Booking, Staff
from wx_backend.models.campaigns import Campaign, RulesVersion, Store, Window
from wx_backend.models.identity import Resident
from wx_backend.models.sms import OutboxSms

__all__ = ["BOOKING_STATUSES", "Booking", "Campaign", "OutboxSms", "Resident", "RulesVersion",
           "Staff", "Store", "Window"]
