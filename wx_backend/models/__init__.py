"""Every model, importable from one place (Alembic and the app import this module)."""

from wx_backend.models.bookings import BOOKING_STATUSES, Booking, Staff
from wx_backend.models.campaigns import Campaign, RulesVersion, Store, Window
from wx_backend.models.identity import Resident
from wx_backend.models.notify import (CHANNELS, DELIVERY_STATUSES, Delivery, Follower,
                                      ScheduleRun, SubscribeConsent)
from wx_backend.models.sms import OutboxSms

__all__ = ["BOOKING_STATUSES", "Booking", "CHANNELS", "Campaign", "DELIVERY_STATUSES", "Delivery",
           "Follower", "OutboxSms", "Resident", "RulesVersion", "ScheduleRun", "Staff", "Store",
           "SubscribeConsent", "Window"]
