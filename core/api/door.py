"""The ASGI app the cloud doors (AWS, GCP, Azure) mount.

POST /predict is answered by the framework-free fast path inside the same middleware as
every route (core/api/stack.py); the FastAPI app with every other route is built, and
FastAPI imported, on the first request that needs it. A cold instance whose first request
is a prediction never pays for the framework; `mlfn serve` runs `create_app` itself."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from core.api.fastpath import PREDICT_PATH
from core.api.services import Services, ServicesHolder
from core.api.stack import in_front, middleware_layers, wrapped


class DoorApp:
    def __init__(self, services: Services | None = None) -> None:
        self.holder = ServicesHolder(services)
        # as FastAPI's app.state: what handlers and tests read
        self.state = SimpleNamespace(
            build_services=self.holder.build, built=self.holder.built, get_services=self.holder.get
        )
        self._full: Any = None
        layers = middleware_layers(self.holder, self._routes, protected=(PREDICT_PATH,))
        self._asgi = in_front(wrapped(self._inner, layers), self.holder)

    def full(self) -> Any:
        """The FastAPI app of every route (no middleware of its own: the layers are here)."""
        if self._full is None:
            from core.api.app import create_app

            self._full = create_app(holder=self.holder, middleware=False)
        return self._full

    def prime(self) -> tuple[list[int], str | None]:
        """The services built, the champion (and any challenger) loaded and run once, off
        the record: what a warm-up (a SnapStart snapshot, a keep-warm ping, Azure's warmup
        trigger) should leave. (The versions primed, or none and why not.)"""
        from core.errors import MlfnError

        try:
            return self.holder.build().predictor.prime(), None
        except MlfnError as exc:
            return [], exc.message

    def _routes(self) -> Any:
        return self.full().routes

    async def _inner(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the app has no start-up or shutdown work
            await _lifespan(receive, send)
            return
        await self.full()(scope, receive, send)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self._asgi(scope, receive, send)


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def door_app(services: Services | None = None) -> DoorApp:
    return DoorApp(services)
