"""The mini-program's JSON API under ``/api/v1`` (DESIGN.md §6).

``routes`` (login, profile, SMS codes), ``campaign_routes`` (campaigns, stores, bookings),
``entry_routes`` (lottery and queue entries) and ``room_routes`` (the waiting room) attach
to the one ``blueprint``; ``auth`` reads the resident's bearer token and ``schemas``
validates what they send.
"""

from wx_backend.miniprogram_api import campaign_routes, entry_routes, room_routes, routes
from wx_backend.miniprogram_api.blueprint import bp

# Importing the route modules above is what attaches their routes to ``bp``.
__all__ = ["bp", "campaign_routes", "entry_routes", "room_routes", "routes"]
