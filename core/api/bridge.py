"""Call an ASGI app with one buffered request — for runtimes that hand us a request object
instead of mounting an app (functions-framework's aio HTTP functions)."""

from __future__ import annotations

from typing import Any

# Keys a host router adds to the scope; the app's own router sets them again.
HOST_ROUTING_KEYS = ("route", "endpoint", "path_params", "router", "app")


async def call_asgi(
    app: Any, scope: dict[str, Any], body: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of the app's answer to one HTTP request."""
    scope = {k: v for k, v in scope.items() if k not in HOST_ROUTING_KEYS}
    delivered = False
    status, headers, chunks = 500, [], []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, headers, b"".join(chunks)
