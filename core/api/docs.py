"""Swagger UI (/docs) and ReDoc (/redoc) from files installed with the package
(fastapi-offline's copies, a dependency of the API), so the API docs work without internet."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

STATIC_PREFIX = "/docs/static"
OPENAPI, TITLE = "/openapi.json", "mlfn API"


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc (the FastAPI app is created with both switched off)."""
    import fastapi_offline
    from starlette.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(STATIC_PREFIX, StaticFiles(directory=assets), name="docs-static")
    files = STATIC_PREFIX

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI,
            title=TITLE,
            swagger_js_url=f"{files}/swagger-ui-bundle.js",
            swagger_css_url=f"{files}/swagger-ui.css",
            swagger_favicon_url=f"{files}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc_ui() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=OPENAPI,
            title=TITLE,
            redoc_js_url=f"{files}/redoc.standalone.js",
            redoc_favicon_url=f"{files}/favicon.png",
            with_google_fonts=False,
        )
