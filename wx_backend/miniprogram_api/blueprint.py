"""The mini-program API's blueprint: every route module of the package attaches to it."""

from apiflask import APIBlueprint

bp = APIBlueprint("miniprogram_api", __name__, url_prefix="/api/v1", tag="mini-program")
