"""The pharmacy staff API under ``/api/v1/staff``: log in, redeem pickups, see the store."""

from apiflask import APIBlueprint

bp = APIBlueprint("staff", __name__, url_prefix="/api/v1/staff", tag="staff")

from wx_backend.web.staff import routes  # noqa: E402,F401  (routes attach to bp)
