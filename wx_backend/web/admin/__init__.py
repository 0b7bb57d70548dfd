"""The editors' JSON API under ``/api/v1/admin``: announcements and the FAQ knowledge base.

Editors log in with a username and password for a bearer token (web pages come later).
"""

from wx_backend.web.admin.routes import bp

__all__ = ["bp"]
