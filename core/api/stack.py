"""The middleware every door runs, in one list, innermost first: /predict's fast path, JSON
as the default content type, the body limit, the token check before any body is read, HEAD
as GET, CORS, telemetry. `mlfn serve` installs it on the FastAPI app; the cloud doors wrap
it around the app themselves (core/api/door.py), so both run the very same layers."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from core.api.content_encoding import ContentEncoding
from core.api.fastpath import PREDICT_PATH, FastPredict
from core.api.hotlane import HotLane
from core.api.http_layers import HeadAsGet, cors_layer
from core.api.middleware import AuthFirst, BodyLimit, JsonContentType
from core.api.observe import TelemetryMiddleware
from core.api.services import ServicesHolder
from core.monitoring.telemetry import telemetry_enabled

GATEWAY_ENV = "MLFN_GATEWAY"
Layer = tuple[Any, dict[str, Any]]


def token_header() -> bytes:
    """Where the caller's bearer token is. Behind Google API Gateway (MLFN_GATEWAY=google)
    `Authorization` holds the gateway's own ID token for the private function, and the
    caller's moves to `X-Forwarded-Authorization`; it is checked in full all the same."""
    behind_google = os.environ.get(GATEWAY_ENV) == "google"
    return b"x-forwarded-authorization" if behind_google else b"authorization"


def middleware_layers(
    holder: ServicesHolder,
    routes: Callable[[], Any],
    fast_predict: bool = True,
    protected: Iterable[str] = (),
) -> list[Layer]:
    """Innermost first. `routes`: the app's routes (which paths need a token);
    `protected`: paths known to need one without asking the routes."""

    async def authenticator() -> Any:
        return (await holder.get()).auth

    layers: list[Layer] = [(FastPredict, {"get_services": holder.get})] if fast_predict else []
    layers += [
        (JsonContentType, {"routes": routes, "reading": (PREDICT_PATH,)}),
        (ContentEncoding, {}),  # inside the limit: both sizes, as sent and decoded, count
        (BodyLimit, {}),
        (AuthFirst, {"get_authenticator": authenticator, "routes": routes,
                     "header": token_header(), "protected": tuple(protected)}),
        (HeadAsGet, {}),
    ]  # fmt: skip
    cors = cors_layer()
    if cors is not None:
        layers.append(cors)
    if telemetry_enabled():  # MLFN_TELEMETRY=off: no request ids, spans or events at all
        layers.append((TelemetryMiddleware, {"get_telemetry": lambda: holder.build().telemetry}))
    return layers


def wrapped(app: Any, layers: list[Layer]) -> Any:
    """`app` inside the layers (the first listed innermost)."""
    for layer, options in layers:
        app = layer(app, **options)
    return app


def in_front(layers: Any, holder: ServicesHolder) -> HotLane:
    """The hot lane in front of `layers` (an app inside all of `middleware_layers`), set
    up as those layers are: the same token header, telemetry and CORS."""
    get_telemetry = (lambda: holder.build().telemetry) if telemetry_enabled() else None
    return HotLane(layers, holder, token_header(), get_telemetry, cors_layer() is not None)
