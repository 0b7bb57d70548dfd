"""The community staff API under ``/api/v1/community``: register, book and enter for
residents without a smartphone (``wx_backend.identity.assisted``)."""

from apiflask import APIBlueprint

bp = APIBlueprint("community", __name__, url_prefix="/api/v1/community", tag="community")

from wx_backend.web.community import routes  # noqa: E402,F401  (routes attach to bp)
