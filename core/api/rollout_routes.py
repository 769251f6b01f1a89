"""Champion and challenger over HTTP (scope admin): GET /models/routing, GET /models/history,
POST /models/{version}/canary, POST /models/{version}/shadow, POST /models/rollback."""

from typing import Annotated, Any

from fastapi import FastAPI, Query

from core.api.schemas import CanaryRequest, RollbackRequest, ShadowRequest
from core.auth import Principal
from core.rollout.actions import history_view, rollback, routing_view, set_challenger

MAX_HISTORY = 1000


def install_rollout_routes(app: FastAPI, needs: Any, svc_type: Any, secured: Any,
                           errors: Any) -> None:  # fmt: skip
    Admin = Annotated[Principal, needs("admin")]

    @app.get("/models/routing", openapi_extra=secured, responses=errors(503))
    def routing(svc: svc_type, user: Admin) -> dict[str, Any]:
        """The champion, and the challenger with its weight, mode and start."""
        return routing_view(svc.registry)

    @app.get("/models/history", openapi_extra=secured, responses=errors(422, 503))
    def history(
        svc: svc_type, user: Admin, limit: Annotated[int, Query(ge=1, le=MAX_HISTORY)] = 100
    ) -> dict[str, Any]:
        """The audit trail, oldest first: who changed the routing, when, from what to what,
        and why (the newest `limit` records)."""
        return history_view(svc.registry, limit)

    @app.post(
        "/models/{version}/canary", openapi_extra=secured,
        responses=errors(404, 409, 413, 422, 503),
    )  # fmt: skip
    def canary(version: int, body: CanaryRequest, svc: svc_type, user: Admin) -> dict[str, Any]:
        """VERSION answers `weight` percent of the routing keys; the champion the rest."""
        return set_challenger(
            svc.registry, version, body.weight, "canary", user.subject, body.reason or ""
        )

    @app.post(
        "/models/{version}/shadow", openapi_extra=secured,
        responses=errors(404, 409, 413, 422, 503),
    )  # fmt: skip
    def shadow(version: int, body: ShadowRequest, svc: svc_type, user: Admin) -> dict[str, Any]:
        """VERSION scores a copy of `weight` percent of the requests (default all); the
        champion answers every caller."""
        return set_challenger(
            svc.registry, version, body.weight, "shadow", user.subject, body.reason or ""
        )

    @app.post("/models/rollback", openapi_extra=secured, responses=errors(409, 413, 422, 503))
    def roll_back(
        svc: svc_type, user: Admin, body: RollbackRequest | None = None
    ) -> dict[str, Any]:
        """Take the challenger out; with none, put the previous champion back."""
        return rollback(svc.registry, user.subject, (body.reason if body else None) or "")
