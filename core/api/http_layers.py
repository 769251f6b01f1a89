"""HTTP conformance layers every door runs (core/api/stack.py): HEAD on GET routes, and CORS
when MLFN_CORS_ORIGINS names the allowed origins. Plain ASGI: importing them costs nothing
on a cold instance's path to its first answer."""

from __future__ import annotations

import os
from typing import Any

ASGIApp = Any
ENV_CORS_ORIGINS = "MLFN_CORS_ORIGINS"  # comma-separated origins, or *


class HeadAsGet:
    """HEAD on a GET route: the GET's status and headers, no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def cors_layer() -> tuple[Any, dict[str, Any]] | None:
    """CORS for the origins in MLFN_CORS_ORIGINS (none by default: same-origin only), as a
    middleware layer (core/api/stack.py)."""
    origins = [o.strip() for o in os.environ.get(ENV_CORS_ORIGINS, "").split(",") if o.strip()]
    if not origins:
        return None
    from starlette.middleware.cors import CORSMiddleware

    return CORSMiddleware, {
        "allow_origins": origins,
        "allow_methods": ["GET", "POST", "HEAD", "OPTIONS"],
        "allow_headers": ["authorization", "content-type", "idempotency-key", "x-request-id"],
        "max_age": 600,
    }
