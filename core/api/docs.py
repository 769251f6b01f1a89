"""Swagger UI (/docs) and ReDoc (/redoc) from files installed with the package
(fastapi-offline's copies), so the API docs work without internet; a CDN only where that
package is missing."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

STATIC_PREFIX = "/docs/static"


def _assets() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc (the FastAPI app is created with both switched off)."""
    assets = _assets()
    if assets is not None:
        from starlette.staticfiles import StaticFiles

        app.mount(STATIC_PREFIX, StaticFiles(directory=assets), name="docs-static")
    files = STATIC_PREFIX if assets is not None else None

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        if files is None:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="mlfn API")
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="mlfn API",
            swagger_js_url=f"{files}/swagger-ui-bundle.js",
            swagger_css_url=f"{files}/swagger-ui.css",
            swagger_favicon_url=f"{files}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc_ui() -> HTMLResponse:
        if files is None:
            return get_redoc_html(openapi_url="/openapi.json", title="mlfn API")
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="mlfn API",
            redoc_js_url=f"{files}/redoc.standalone.js",
            redoc_favicon_url=f"{files}/favicon.png",
            with_google_fonts=False,
        )
