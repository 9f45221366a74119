"""/docs: Swagger UI over /openapi.json, its files served from the package that ships them
(`fastapi-offline`, pinned in pyproject), never from a CDN, and started by a script file
rather than FastAPI's inline one, so the page keeps a Content-Security-Policy without inline
script."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)
ASSETS_URL = "/docs-assets"
# Swagger UI styles its widgets inline: this page alone allows that, never an inline script.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>scrapetrack API</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/openapi.json"></div>
  <script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""


def assets() -> StaticFiles:
    """Swagger UI's script and style sheet, as the installed package ships them."""
    return StaticFiles(directory=Path(str(files("fastapi_offline") / "static")))


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP})
