"""Every model, importable from one place (Alembic and the app import this module)."""

from wx_backend.models.bookings import BOOKING_STATUSES, Booking, Staff
from wx_backend.models.campaigns import Campaign, RulesVersion, Store, Window
from wx_backend.models.community import AssistedAction, CommunityStaff
from wx_backend.models.delivery import ORDER_STATUSES, DeliveryOrder
from wx_backend.models.identity import Resident
from wx_backend.models.lottery import ENTRY_STATUSES, Draw, Entry
from wx_backend.models.notify import (CHANNELS, DELIVERY_STATUSES, Delivery, Follower,
                                      ScheduleRun, SubscribeConsent)
from wx_backend.models.official import (ANNOUNCEMENT_STATUSES, Announcement, Editor,
                                        FaqSynonym, KnowledgeEntry)
from wx_backend.models.sms import OutboxSms

__all__ = ["ANNOUNCEMENT_STATUSES", "Announcement", "AssistedAction", "CommunityStaff", "BOOKING_STATUSES", "Editor", "FaqSynonym",
           "KnowledgeEntry", "Booking", "CHANNELS", "Campaign", "DELIVERY_STATUSES", "Delivery",
           "DeliveryOrder", "Draw", "ORDER_STATUSES", "ENTRY_STATUSES", "Entry", "Follower", "OutboxSms", "Resident", "RulesVersion", "ScheduleRun", "Staff", "Store",
           "SubscribeConsent", "Window"]
