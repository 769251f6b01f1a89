"""Request bodies read as JSON with one rule more than the standard library's reader: every
string is Unicode text. `json.loads` turns an unpaired `\\ud800` escape into a lone
surrogate, which no model, log, job record or answer can encode (each raised deep inside,
as a 500); orjson, which the hot lane reads with, refuses such a body outright. Every route
reads its body this way (`StrictJsonRoute`), so the layers refuse it too, with a 422 that
names the string."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from core.schema import is_unicode


def read_json(data: bytes) -> Any:
    """`json.loads(data)`; UnicodeEncodeError (a ValueError) naming the first string, key or
    value, that holds a lone surrogate."""
    value = json.loads(data)
    # only an escape can make one; UTF-16 or UTF-32 (a NUL among the first bytes), looked at
    if b"\\ud" in data or b"\\uD" in data or b"\x00" in data[:4]:
        _refuse_lone_surrogates(value)
    return value


def _refuse_lone_surrogates(value: Any) -> None:
    waiting = [value]  # a loop, not recursion: a body may nest as deep as the reader allows
    while waiting:
        item = waiting.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                item.encode("utf-8")  # raises the UnicodeEncodeError that names it
        elif isinstance(item, dict):
            waiting.extend(item)
            waiting.extend(item.values())
        elif isinstance(item, list):
            waiting.extend(item)


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = read_json(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose body, read by FastAPI or by the route itself, is read by `read_json`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
