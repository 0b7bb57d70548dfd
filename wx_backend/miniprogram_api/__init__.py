"""The mini-program's JSON API under ``/api/v1`` (DESIGN.md §6)."""

from apiflask import APIBlueprint

bp = APIBlueprint("miniprogram_api", __name__, url_prefix="/api/v1", tag="mini-program")

from wx_backend.miniprogram_api import campaign_routes, entry_routes, routes  # noqa: E402,F401
