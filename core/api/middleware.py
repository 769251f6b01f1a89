"""Pure ASGI middleware (no per-request overhead from BaseHTTPMiddleware): the body size
limit, the token check before the body is read, and JSON as the only content type (and the
default)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from core.api.error_shapes import MLFLOW_PATHS, error_body
from core.errors import (
    BadRequestError,
    MlfnError,
    PayloadTooLargeError,
    UnavailableError,
    UnsupportedMediaTypeError,
)

logger = logging.getLogger("mlfn.api")
ASGIApp = Any
MAX_BODY_BYTES = 6 * 2**20  # API Gateway and Lambda's synchronous payload limit


async def send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            too_large = self._too_large()
            shaped = error_body(scope["path"], too_large.status, too_large.code, too_large.message)
            await send_json(send, *shaped)
            return
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._too_large()
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"the request body is over {self.limit // 2**20} MB")


PUBLIC_PATHS = frozenset(
    {"/health", "/ready", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
     "/ping", "/version",  # MLflow's health and version probes, public there too
     "/v2", "/v2/health/live", "/v2/health/ready"}  # and the Open Inference Protocol's
)  # fmt: skip
PUBLIC_PREFIXES = ("/docs/static/",)  # Swagger UI's and ReDoc's own files
SEEN_PATHS = 512  # paths whose protection is remembered (ids make paths many: bounded)
PRINCIPAL = "mlfn_principal"  # where the authenticated caller waits in the ASGI scope's state


class AuthFirst:
    """Check the bearer token before anything reads the body: an anonymous client's 6 MB
    body is refused unread. One Authorization header only (400 otherwise). The verified
    principal goes to `scope["state"]`, where the routes' scope checks find it."""

    def __init__(
        self,
        app: ASGIApp,
        get_authenticator: Callable[[], Any],
        routes: Callable[[], Any],
        header: bytes = b"authorization",
        protected: tuple[str, ...] = (),
    ) -> None:
        self.app, self.get_authenticator, self.routes = app, get_authenticator, routes
        self.header = header  # behind Google API Gateway: x-forwarded-authorization
        self._known = dict.fromkeys(protected, True)  # never forgotten, never asked
        self._seen: dict[str, bool] = {}

    def _protected(self, path: str) -> bool:
        """A path served by a route other than the public ones (unknown paths get a 404).
        Remembered for the last few hundred paths: the routes do not change once built."""
        known = self._known.get(path, self._seen.get(path))
        if known is not None:
            return known
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            return False
        regexes = (getattr(route, "path_regex", None) for route in self.routes())
        protected = any(regex is not None and regex.match(path) for regex in regexes)
        if len(self._seen) >= SEEN_PATHS:
            self._seen.clear()
        self._seen[path] = protected
        return protected

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"  # CORS preflight carries no credentials
            or not self._protected(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        values = [v for k, v in scope.get("headers", []) if k == self.header]
        try:
            if len(values) > 1:
                raise BadRequestError("send exactly one Authorization header")
            token = values[0].decode("latin-1") if values else None
            principal = await self._principal(token, scope)
        except MlfnError as exc:
            await send_json(send, *error_body(scope["path"], exc.status, exc.code, exc.message))
            return
        scope.setdefault("state", {})[PRINCIPAL] = principal
        await self.app(scope, receive, send)

    async def _principal(self, authorization: str | None, scope: dict[str, Any]) -> Any:
        try:
            authenticator = await self.get_authenticator()
        except MlfnError as exc:
            logger.error("services cannot be built: %s", exc.message)
            raise UnavailableError("the service is not ready; its log says why") from None
        if authenticator.gateway is None and authenticator.jwks is None:
            return authenticator.authenticate(authorization)  # HS256: CPU only, on the loop
        from core.api.offload import in_thread  # only for work that may wait

        if authenticator.gateway is not None:  # MLFN_TRUST_GATEWAY: its vouched-for claims
            headers = dict(scope.get("headers", []))
            return await in_thread(authenticator.gateway.principal, headers)
        return await in_thread(authenticator.authenticate, authorization)  # JWKS


class JsonContentType:
    """Read a body without a content type as JSON (API Gateway forwards none when the client
    sent none, and this API speaks only JSON), and refuse one declared as something else
    (`curl -d` says form data) with 415 and what to send instead, rather than a puzzling
    field error. MLflow's /invocations reads CSV too and words its own refusal; the Open
    Inference Protocol's routes read their body as JSON whatever it is declared as."""

    def __init__(
        self, app: ASGIApp, routes: Callable[[], Any] | None = None, reading: tuple[str, ...] = ()
    ) -> None:
        """`routes`: the app's routes, to tell which read a body (without them, every
        route of mlfn's own is taken to); `reading`: paths whose POST is known to."""
        self.app, self.routes = app, routes
        self._known = {("POST", path): True for path in reading}  # never asked, never forgotten
        self._reads: dict[tuple[str, str], bool] = {}

    def _reads_body(self, method: str, path: str) -> bool:
        """The route that answers `method path` reads a body: it declares one, or documents
        the one it reads itself. A route without one (`/jobs/{id}/cancel`) ignores any
        body, whatever its type, as does a path no route answers (404)."""
        if self.routes is None:
            return True
        known = self._known.get((method, path), self._reads.get((method, path)))
        if known is None:
            known = _route_reads_body(self.routes(), method, path)
            if len(self._reads) >= SEEN_PATHS:
                self._reads.clear()
            self._reads[(method, path)] = known
        return known

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in {"POST", "PUT", "PATCH"}:
            headers = scope.get("headers", [])
            declared = next((value for name, value in headers if name == b"content-type"), None)
            if declared is None:
                # in place: what the routes note in the scope (the route, for telemetry)
                # stays visible to the middleware outside
                scope["headers"] = [*headers, (b"content-type", b"application/json")]
            elif (
                not is_json_type(declared)
                and _reads_only_json(scope["path"], headers)
                and self._reads_body(scope["method"], scope["path"])
            ):
                refused = _not_json(declared)
                path = scope["path"]
                await send_json(send, *error_body(path, refused.status, refused.code,
                                                   refused.message))  # fmt: skip
                return
        await self.app(scope, receive, send)
        return None


def is_json_type(content_type: bytes) -> bool:
    """application/json or a JSON-based type (application/problem+json), any parameters."""
    mime = content_type.split(b";", 1)[0].strip().lower()
    return mime == b"application/json" or (
        mime.startswith(b"application/") and mime.endswith(b"+json")
    )


def _reads_only_json(path: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """A route of mlfn's own with a body to read (an empty one, however declared, is none)."""
    if path in MLFLOW_PATHS or path == "/v2" or path.startswith("/v2/"):
        return False
    length = next((value for name, value in headers if name == b"content-length"), None)
    return length is None or length.strip() != b"0"


def _route_reads_body(routes: Any, method: str, path: str) -> bool:
    for route in routes:
        regex, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is None or not methods or method not in methods or not regex.match(path):
            continue
        extra = getattr(route, "openapi_extra", None) or {}
        return getattr(route, "body_field", None) is not None or "requestBody" in extra
    return False


def _not_json(declared: bytes) -> UnsupportedMediaTypeError:
    shown = declared.decode("latin-1").split(";", 1)[0].strip()[:100]
    return UnsupportedMediaTypeError(
        f"content type '{shown}' is not supported: send the body as JSON with "
        "'Content-Type: application/json' (curl: -H 'Content-Type: application/json')"
    )
