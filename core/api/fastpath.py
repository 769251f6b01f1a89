"""POST /predict without the web framework's per-request work (routing, dependency
resolution, a pydantic model of the body, response validation): the hot path, as pure ASGI
inside the same middleware as every route, so the token check before the body, the body
limit and telemetry still apply.

It answers only what it recognises completely: a JSON body of exactly one of /predict's
shapes, well formed. Anything else (another content type, a malformed or ambiguous body)
goes, byte for byte, to the FastAPI route, so every refusal keeps its exact status, code
and message. Both call the same dataplane (core/api/dataplane.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard

from core.api.dataplane import (
    VERSION_HEADER,
    routing_key,
    run_deferred,
    score_rows,
)
from core.api.error_shapes import error_body
from core.api.middleware import PRINCIPAL
from core.api.observe import SERVED, ObservedSend
from core.auth import Authenticator
from core.errors import AuthenticationError, MlfnError
from core.featurespec import SplitRows
from core.inference import BODY_SHAPES  # loaded with the services anyway
from core.monitoring import context as monitoring_context
from core.monitoring.jsonline import json_bytes

try:  # the `api` extra brings orjson; the standard library does the same, slower
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - exercised where orjson is not installed
    _loads = json.loads

logger = logging.getLogger("mlfn.api")
ASGIApp = Any
PREDICT_PATH = "/predict"
Rows = list[Any] | SplitRows  # a clean body's rows: objects, or a split as sent
SPLIT_KEYS = frozenset({"columns", "data", "index"})
_ROUTING = b"x-mlfn-routing-key"
_HEADERS = (b"content-type", b"application/json")
_VERSION = VERSION_HEADER.lower().encode()


class PredictRoute:
    """What telemetry reads of a matched route: its template."""

    path = PREDICT_PATH


def route_path(scope: dict[str, Any]) -> str:
    """The path the router matches (Starlette's rule): without the root path."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


def clean_rows(parsed: Any) -> Rows | None:
    """The rows of a body in exactly one of /predict's shapes, well formed, as the route
    reads them (`rows_from_body` of what its body model passes on); None for anything the
    route must judge (and word the refusal of)."""
    if not isinstance(parsed, dict) or len(parsed) != 1:
        return None
    (shape, value), = parsed.items()  # fmt: skip
    if shape not in BODY_SHAPES or value is None:
        return None
    if shape != "dataframe_split":
        return value if _list_of(value, dict) else None
    return _split_rows(value)


def _list_of(value: Any, kind: type) -> TypeGuard[list[Any]]:
    """A list whose every item is a `kind` (a loop: all() over a generator costs more than
    the check, on every request)."""
    if not isinstance(value, list):
        return False
    for item in value:  # noqa: SIM110 (see above)
        if not isinstance(item, kind):
            return False
    return True


def _split_rows(split: Any) -> SplitRows | None:
    """A `dataframe_split`'s rows, as sent (read by name only where needed), when every
    data row has one value per column."""
    if not isinstance(split, dict) or not SPLIT_KEYS.issuperset(split):
        return None
    columns, data = split.get("columns"), split.get("data")
    index = split.get("index")
    if not _list_of(columns, str) or not _list_of(data, list):
        return None
    if index is not None and not isinstance(index, list):
        return None
    if data and set(map(len, data)) != {len(columns)}:  # the route names the row
        return None
    return SplitRows(columns, data)


def json_content(headers: list[tuple[bytes, bytes]]) -> bool:
    """The request's (first) Content-Type is JSON."""
    for name, value in headers:
        if name == b"content-type":
            return is_json(value)
    return False


def is_json(content_type: bytes) -> bool:
    """A Content-Type value of JSON, whatever its parameters and case."""
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


async def read_body(receive: Any, limit: int | None = None) -> tuple[bytes, bool] | None:
    """(the body, whether it is whole); None when the client went away. With `limit`, the
    reading stops once the body is over it (more of it may still be to come)."""
    chunks, more, size = [], True, 0
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        more = message.get("more_body", False)
        size += len(chunk)
        if limit is not None and size > limit:
            break
    return b"".join(chunks), not more


def replay(
    body: bytes, receive: Any, more: bool = False
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A receive that hands the already-read body over again, then the client's own (`more`:
    the client has more of the body to send)."""
    sent = False

    async def again() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return dict(await receive())
        sent = True
        return {"type": "http.request", "body": body, "more_body": more}

    return again


def clean_json(body: bytes) -> Rows | None:
    """The body's rows, when it is one of /predict's shapes, well formed (`clean_rows`)."""
    try:
        return clean_rows(_loads(body)) if body else None
    except ValueError:
        return None


def _send(send: Any, status: int, data: bytes, extra: list[tuple[bytes, bytes]]) -> Awaitable[None]:
    """The response's sending, to await (a function: one await level fewer)."""
    headers = [_HEADERS, (b"content-length", str(len(data)).encode()), *extra]
    if type(send) is ObservedSend:  # the request's telemetry notes the response in one step
        return send.respond(status, headers, data)
    return _two_messages(send, status, headers, data)


async def _two_messages(
    send: Any, status: int, headers: list[tuple[bytes, bytes]], data: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def send_error(send: Any, path: str, exc: MlfnError) -> None:
    """An error in the route's shape (the same as the app's exception handler's)."""
    status, body = error_body(path, exc.status, exc.code, exc.message)
    extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()  # as Starlette's
    await _send(send, status, data, extra)


async def answered(scope: dict[str, Any], send: Any, work: Awaitable[None]) -> None:
    """`work`, with a failure answered as the app's exception handlers would: an MlfnError
    with its own status and code, anything else logged and a 500 that tells no more."""
    try:
        await work
    except MlfnError as exc:
        await send_error(send, scope["path"], exc)
    except Exception as exc:  # the app's own rule: logged, the caller told no more
        logger.error("unhandled error on POST %s: %r", scope["path"], exc)
        await send_error(send, scope["path"], MlfnError("internal error"))


class FastPredict:
    """The innermost middleware: POST /predict answered here, everything else passed on."""

    def __init__(self, app: ASGIApp, get_services: Callable[[], Awaitable[Any]]) -> None:
        self.app, self.get_services = app, get_services

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or route_path(scope) != PREDICT_PATH
            or not json_content(scope.get("headers", []))
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = PredictRoute  # matched: telemetry labels even a refusal with the route
        await answered(scope, send, self._predict(scope, receive, send))

    async def _predict(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        user = scope.get("state", {}).get(PRINCIPAL)
        if user is None:  # AuthFirst checks every protected route; this never trusts less
            raise AuthenticationError("missing bearer token (Authorization: Bearer <JWT>)")
        Authenticator.require(user, "predict")
        read = await read_body(receive)
        if read is None:
            return
        body = read[0]
        rows = clean_json(body)
        if rows is None:  # the route words the refusal
            await self.app(scope, replay(body, receive), send)
            return
        await answer_rows(scope, send, rows, user, await self.get_services())


def _header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> bytes | None:
    """The first value of a header (a loop, not next() over a generator: cheaper)."""
    for name, value in headers:
        if name == wanted:
            return value
    return None


async def answer_rows(scope: dict[str, Any], send: Any, rows: Rows, user: Any, svc: Any) -> None:
    """The answer to a clean /predict body's rows (`clean_rows`) from an authorised caller."""
    request_id = monitoring_context.request_id()
    explicit = _header(scope.get("headers", []), _ROUTING)
    explicit_key = explicit.decode("latin-1") if explicit else None
    key = routing_key(explicit_key, user.subject, request_id)
    answer, deferred = await score_rows(svc.predictor, rows, svc.max_rows, request_id, key)
    version = answer["model"]["version"]
    scope.setdefault("state", {})[SERVED] = (answer["model"]["name"], version, len(rows))
    await _send(send, 200, json_bytes(answer), [(_VERSION, str(version).encode())])
    if deferred:  # a shadow's scoring: after the answer, never in its way
        try:
            await run_deferred(deferred)
        except Exception as exc:
            logger.error("work after the answer to POST %s failed: %r", scope["path"], exc)
