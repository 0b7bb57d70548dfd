"""The console's blueprint: server-rendered pages under /console for pharmacy staff,
community staff, editors and operators; every page module attaches to it. Pages, not API:
left out of the OpenAPI spec."""

from apiflask import APIBlueprint

bp = APIBlueprint("console", __name__, url_prefix="/console", template_folder="templates",
                  enable_openapi=False)
