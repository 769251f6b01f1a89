"""The hot lane: POST /predict's common case answered in one step, before the layers.

Every request passes a dozen ASGI layers (the framework's error handler, telemetry, CORS,
HEAD, the token check, the body limit, JSON as the default type, the fast path), each a
coroutine and a scope lookup: on a one-row prediction they cost more than the model. The
lane stands in front of them and takes a request only when each layer's verdict is known
from its headers alone, and known to be "go on":

- POST to /predict, JSON (or no content type), no chunked or compressed body, and a
  Content-Length, if declared, within the limit (a door's event holds its whole body and
  often declares no length: the lane reads at most the limit, then leaves the rest to the
  layers);
- no header name twice (so exactly one token header), the token one that passed every
  check before and has not expired since (`Authenticator.verified_before`: a lookup,
  never a verification), whose principal has the `predict` scope; no gateway-trust mode;
- no `Origin` header when CORS is on (CORS passes such requests through untouched).

It then reads the body and answers a clean one (`clean_json`) through the same dataplane,
error shapes and telemetry (`observed`: request id, trace, RequestDone) as the fast path.
Anything else — a new token, a missing scope, a chunked or oversized body, a malformed or
ambiguous body (replayed byte for byte) — goes to the layers, which word every refusal."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from core.api.fastpath import (
    PREDICT_PATH,
    PredictRoute,
    Rows,
    answer_rows,
    answered,
    clean_json,
    is_json,
    read_body,
    replay,
    route_path,
)
from core.api.middleware import MAX_BODY_BYTES, PRINCIPAL
from core.api.observe import ObservedSend, finish, observed
from core.api.services import ServicesHolder
from core.monitoring import Telemetry, tracing
from core.monitoring import context as ctx

ASGIApp = Any


class HotLane:
    """In front of `layers` (the app with all its middleware): what it takes it answers,
    the rest goes to `layers` unchanged."""

    def __init__(
        self,
        layers: ASGIApp,
        holder: ServicesHolder,
        token_header: bytes,
        get_telemetry: Callable[[], Telemetry] | None,
        cors: bool,
        limit: int = MAX_BODY_BYTES,
    ) -> None:
        self.layers, self.holder, self.header = layers, holder, token_header
        self.get_telemetry, self.cors, self.limit = get_telemetry, cors, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        caller = self._caller(scope)
        if caller is None:
            await self.layers(scope, receive, send)
            return
        user, headers = caller
        started = time.perf_counter()
        read = await read_body(receive, self.limit)
        if read is None:  # the client went away
            return
        body, whole = read
        # over the limit whatever the header declared (a door's event may say anything, or
        # nothing): read no further; the layers count it again and refuse it
        rows = clean_json(body) if whole and len(body) <= self.limit else None
        if rows is None:  # the layers word the refusal
            await self.layers(scope, replay(body, receive, not whole), send)
            return
        scope["route"] = PredictRoute
        scope.setdefault("state", {})[PRINCIPAL] = user
        if self.get_telemetry is None or tracing.active():  # no telemetry, or a span to open
            await self._answer_aside(scope, send, rows, user, started)
            return
        svc = self.holder.built["services"]
        # observed as `observed` does, one await level and a few calls fewer (the hot path)
        call = ObservedSend(send, scope, started, headers)
        current = ctx.current.set(call)
        try:
            await answered(scope, call, answer_rows(scope, call, rows, user, svc))
        except Exception:
            call.failed()
            raise
        finally:
            finish(scope, call, current, svc.telemetry)

    async def _answer_aside(
        self, scope: dict[str, Any], send: Any, rows: Rows, user: Any, started: float
    ) -> None:
        """The answer without telemetry (MLFN_TELEMETRY=off), or observed in a span."""
        answer = functools.partial(self._answer, scope, rows, user)
        if self.get_telemetry is None:
            await answer(send)
        else:
            await observed(scope, send, answer, self.get_telemetry, started)

    def _answer(self, scope: dict[str, Any], rows: Rows, user: Any, send: Any) -> Awaitable[None]:
        svc = self.holder.built["services"]
        return answered(scope, send, answer_rows(scope, send, rows, user, svc))

    def _caller(self, scope: dict[str, Any]) -> tuple[Any, dict[bytes, bytes]] | None:
        """(the principal, the headers by name) when the lane takes this request, else None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        if route_path(scope) != PREDICT_PATH or "services" not in self.holder.built:
            return None
        headers = self._headers(scope["headers"])
        if headers is None:
            return None
        auth = self.holder.built["services"].auth
        if auth.gateway is not None:
            return None
        user = auth.verified_before(headers[self.header].decode("latin-1"))
        if user is None or "predict" not in user.scopes:
            return None
        return user, headers

    def _headers(self, headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes] | None:
        """The request's headers by name, when they leave every layer nothing to do: the
        token header, no name twice, JSON (or no content type), no chunked or compressed
        body, a Content-Length (if any) within the limit, and no Origin when CORS is on."""
        found = dict(headers)
        if len(found) != len(headers) or self.header not in found:
            return None
        if b"transfer-encoding" in found or b"content-encoding" in found:
            return None
        if self.cors and b"origin" in found:
            return None
        length = found.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return None
        content_type = found.get(b"content-type")
        if content_type is not None and not is_json(content_type):
            return None
        return found
