"""The interactive API documentation, with Swagger UI served from our own origin.

FastAPI's default `/docs` loads Swagger UI from a CDN; a citizen-facing service must not make
anyone's browser talk to a third party, so the assets come from the `swagger-ui-bundle-v2`
package instead.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # ships no type information

from web.routing import add_routes

ASSETS = "/static/swagger"

router = APIRouter(include_in_schema=False)


# The start script is a file of ours, not inline: the Content-Security-Policy forbids inline
# scripts on every page.
PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sprechstunde API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" href="{ASSETS}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(PAGE)


def install(app: FastAPI) -> None:
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger")
    add_routes(app, router)
