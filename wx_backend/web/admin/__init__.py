"""The editors' JSON API under ``/api/v1/admin``: announcements and the FAQ knowledge base.

Editors log in with a username and password for a bearer token (web pages come later).
"""

from apiflask import APIBlueprint

bp = APIBlueprint("admin", __name__, url_prefix="/api/v1/admin", tag="admin")

from wx_backend.web.admin import routes  # noqa: E402,F401  (routes attach to bp)
