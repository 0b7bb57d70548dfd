"""Every model, importable from one place (Alembic and the app import this module)."""

from wx_backend.models.bookings import BOOKING_STATUSES, Booking, Staff
from wx_backend.models.campaigns import Campaign, RulesVersion, Store, Window
from wx_backend.models.community import AssistedAction, CommunityStaff
from wx_backend.models.identity import Resident
from wx_backend.models.lottery import ENTRY_STATUSES, Draw, Entry, SpecialGroupMember
from wx_backend.models.notify import (
           CHANNELS,
           DELIVERY_STATUSES,
           Delivery,
           Follower,
           ScheduleRun,
           SubscribeConsent,
)
from wx_backend.models.official import (
           ANNOUNCEMENT_STATUSES,
           Announcement,
           Editor,
           FaqSynonym,
           KnowledgeEntry,
)
from wx_backend.models.postal import ORDER_STATUSES, PostalOrder
from wx_backend.models.sms import OutboxSms

__all__ = ["ANNOUNCEMENT_STATUSES", "Announcement", "AssistedAction", "BOOKING_STATUSES",
           "Booking", "CHANNELS", "Campaign", "CommunityStaff", "DELIVERY_STATUSES",
           "Delivery", "PostalOrder", "Draw", "ENTRY_STATUSES", "Editor", "Entry",
           "FaqSynonym", "Follower", "KnowledgeEntry", "ORDER_STATUSES", "OutboxSms",
           "Resident", "RulesVersion", "ScheduleRun", "SpecialGroupMember", "Staff",
           "Store", "SubscribeConsent", "Window"]
