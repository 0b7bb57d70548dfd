"""The community staff API under ``/api/v1/community``: register, book and enter for
residents without a smartphone (``wx_backend.identity.assisted``)."""

from wx_backend.web.community.routes import bp

__all__ = ["bp"]
