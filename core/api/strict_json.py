"""Every route reads its JSON body with `core.json_text.loads` (`StrictJsonRoute`): a string
that is not Unicode (an unpaired `\\ud800` escape) is a 422 naming it, as orjson, which
the hot lane reads with, refuses such a body outright. It had been a 500 deep inside."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from core.json_text import loads


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose body, read by FastAPI or by the route itself, is read by `loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
