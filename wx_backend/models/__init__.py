"""Every model, importable from one place (Alembic and the app import this module)."""

from wx_backend.models.accounts import (
                                         EDITOR_ROLES,
                                         AuditEntry,
                                         CommunityStaff,
                                         Editor,
                                         Operator,
                                         Staff,
)
from wx_backend.models.bookings import BOOKING_STATUSES, Booking, WaitingRoomProof
from wx_backend.models.campaigns import Campaign, RulesVersion, Store, Window
from wx_backend.models.identity import AssistedAction, Resident
from wx_backend.models.lottery import (
                                         ENTRY_STATUSES,
                                         Draw,
                                         DrawRank,
                                         Entry,
                                         SpecialGroupMember,
)
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
                                         FaqSynonym,
                                         KnowledgeEntry,
)
from wx_backend.models.postal import ORDER_STATUSES, PostalOrder
from wx_backend.models.sms import OutboxSms

__all__ = ["ANNOUNCEMENT_STATUSES", "Announcement", "AssistedAction", "AuditEntry",
           "BOOKING_STATUSES", "Booking", "CHANNELS", "Campaign", "CommunityStaff",
           "DELIVERY_STATUSES", "Delivery", "Draw", "DrawRank", "EDITOR_ROLES",
           "ENTRY_STATUSES", "Editor", "Entry", "FaqSynonym", "Follower", "KnowledgeEntry",
           "ORDER_STATUSES", "Operator", "OutboxSms", "PostalOrder", "Resident", "RulesVersion",
           "ScheduleRun", "SpecialGroupMember", "Staff", "Store", "SubscribeConsent",
           "WaitingRoomProof", "Window"]
