"""The pharmacy staff API under ``/api/v1/staff``: log in, redeem pickups, see the store."""

from wx_backend.web.staff.routes import bp

__all__ = ["bp"]
