"""/docs: Swagger UI over /openapi.json, started by a script file rather than FastAPI's inline
one, so the page keeps a Content-Security-Policy without inline script."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
SWAGGER = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
# Swagger UI comes from its CDN and styles its widgets inline: this page alone allows both.
CSP = (f"default-src 'none'; script-src 'self' {SWAGGER}/; style-src 'self' 'unsafe-inline' "
       f"{SWAGGER}/; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>scrapetrack API</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{SWAGGER}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/openapi.json"></div>
  <script src="{SWAGGER}/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": CSP})
