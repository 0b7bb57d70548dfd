"""The console under /console: web pages for pharmacy staff, community staff, editors and
operators (Jinja, htmx vendored in static/console, no build step).

``access`` signs people in and checks every request (role, CSRF, a cookie only here);
``pharmacy``, ``community``, ``editor`` and ``operator`` are each role's pages
(``accounts``: operators keeping staff accounts; ``approvals``: operators approving
editors' rules changes; ``records``: stores, the audit trail and the public list to look
things up in), and
``dashboard`` the operator's live view of a window (charts drawn by ``charts``). They call
the same domain functions as the API and the command line.
"""

from wx_backend.web.console import (
    access,
    accounts,
    approvals,
    auth,
    community,
    dashboard,
    editor,
    operator,
    pharmacy,
    records,
)
from wx_backend.web.console.access import ConsoleSessions
from wx_backend.web.console.blueprint import bp

# Importing the page modules above is what attaches their routes to ``bp``.
__all__ = ["ConsoleSessions", "access", "accounts", "approvals", "auth", "bp", "community",
           "dashboard", "editor", "operator", "pharmacy", "records"]
