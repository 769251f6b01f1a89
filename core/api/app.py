"""The HTTP API, identical on every cloud and under `mlfn serve`."""

from __future__ import annotations

import functools
import logging
from typing import Annotated, Any, Literal

from fastapi import BackgroundTasks, Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from core.api.batch_routes import install_batch_routes
from core.api.conformance import (
    errors,
    plain_validation_errors,
    precise_bodies,
)
from core.api.dataplane import (
    ROUTING_HEADER,
    VERSION_HEADER,
    routing_key,
    run_deferred,
    score_rows,
)
from core.api.docs import install_docs
from core.api.error_shapes import error_body
from core.api.middleware import (
    PRINCIPAL,
)
from core.api.mlflow_routes import install_mlflow_routes
from core.api.monitoring_routes import install_monitoring_routes
from core.api.observe import SERVED
from core.api.oip_routes import install_oip_routes
from core.api.rollout_routes import install_rollout_routes
from core.api.schemas import JobAccepted, PredictRequest, RetrainRequest, TrainRequest
from core.api.services import Services, ServicesHolder
from core.api.stack import in_front, middleware_layers
from core.api.strict_json import StrictJsonRoute
from core.auth import Authenticator, Principal
from core.constants import MODEL_REF_PATTERN
from core.data.access import check_caller_dataset_found
from core.errors import (
    AuthenticationError,
    MlfnError,
    ValidationError,
    unreadable_json,
)
from core.inference import Predictor, rows_from_body, validate_rows
from core.jobs.manage import MAX_LIMIT, cancel_job, get_job, list_jobs
from core.jobs.record import JOB_ID, public_view
from core.jobs.submit import submit_job
from core.model_pool import parse_model_ref
from core.models import check_caller_params
from core.monitoring import context as monitoring_context

logger = logging.getLogger("mlfn.api")
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
MODEL_REF_TEXT = "NAME (its routing answers) or NAME@VERSION"
ANY_MODEL_BODY = {"required": True, "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/PredictRequest"}}}}  # fmt: skip


UNPARSED_BODY = "There was an error parsing the body"  # FastAPI's 400 detail


def _error(status: int, code: str, message: str, path: str = "") -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    status, body = error_body(path, status, code, message)
    return JSONResponse(body, status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MlfnError)
    async def mlfn_error(request: Request, exc: MlfnError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        path = request.url.path
        return _error(
            422,
            "invalid_request",
            plain_validation_errors([dict(e) for e in exc.errors()], path),
            path,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == UNPARSED_BODY and exc.__cause__ is not None:
            # FastAPI's word for a body its JSON reader raised on (other than bad syntax)
            message = unreadable_json(exc.__cause__)
            return _error(422, "invalid_request", message, request.url.path)
        codes = {404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        message = _router_message(exc, request) or str(exc.detail)
        answer = _error(exc.status_code, code, message, request.url.path)
        answer.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return answer

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s %s: %r", request.method, request.url.path, exc)
        return _error(500, "internal_error", "internal error", request.url.path)


# The dependencies and /predict are coroutines, and the authorization is one flat dependency:
# FastAPI runs a plain `def` in the thread pool (a hop of 0.2 to 0.8 ms each) and resolves
# each nested dependency apart, which together were most of the per-request overhead.
# Anything that may block on I/O still goes to the pool.
BEARER_SCHEME = "bearerJWT"


async def get_services(request: Request) -> Services:
    services: Services = await request.app.state.get_services()
    return services


Svc = Annotated[Services, Depends(get_services)]


def needs(scope: str) -> Any:
    """A dependency that authenticates the bearer JWT and requires `scope`."""

    async def authorized(request: Request) -> Principal:
        user: Principal | None = request.scope.get("state", {}).get(PRINCIPAL)
        if user is None:  # AuthFirst checks every protected route; this never trusts less
            raise AuthenticationError("missing bearer token (Authorization: Bearer <JWT>)")
        Authenticator.require(user, scope)
        return user

    authorized.mlfn_scope = scope  # type: ignore[attr-defined]  # read by core/deploy/routes.py
    return Depends(authorized)


def _champion_bodies(app: FastAPI, schema: dict[str, Any]) -> None:
    """The champion's features as the request bodies' schemas and the /predict example."""
    try:
        services = app.state.build_services()
        model = services.predictor.current()
    except MlfnError:
        return  # no champion yet: the generic bodies stay
    precise_bodies(schema, model, services.settings, services.max_rows)
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]
    body["application/json"]["example"] = {"instances": [model.spec.example_row()]}


def _document_bearer_auth(app: FastAPI) -> None:
    """Declare the bearer JWT in /openapi.json (the check itself is `needs`, not a scheme
    dependency, which would cost a dependency resolution per request), and the champion's
    features as the /predict example."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                BEARER_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            _champion_bodies(app, schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class MlfnAPI(FastAPI):
    """FastAPI with the hot lane in front of its whole stack (core/api/hotlane.py)."""

    lane: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.lane is None:
            await super().__call__(scope, receive, send)
        else:
            await self.lane(scope, receive, send)


def _router_message(exc: HTTPException, request: Request) -> str | None:
    """The router's own 404 and 405 ("Not Found", "Method Not Allowed") as a sentence
    naming the request and what to do; None for a route's own HTTPException."""
    asked = f"{request.method} {request.url.path[:200]}"
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"no route answers {asked}: the routes are listed at /docs and /openapi.json"
    if exc.status_code == 405 and exc.detail == "Method Not Allowed":
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{request.url.path[:200]} does not answer {request.method}; send {allowed}"
    return None


def create_app(
    services: Services | None = None,
    fast_predict: bool = True,
    holder: ServicesHolder | None = None,
    middleware: bool = True,
) -> FastAPI:
    """The app. `fast_predict=False` leaves POST /predict to its FastAPI route alone (the
    framework-free path must answer the same: tests compare the two). `holder`: services
    shared with an app around this one; `middleware=False`: that app runs the layers."""
    app = MlfnAPI(
        title="mlfn",
        version="0.1.0",
        description="Train and serve ML models as serverless functions.",
        docs_url=None,  # served from the installed package instead (core/api/docs.py)
        redoc_url=None,
        # mlfn's own telemetry (core/monitoring) makes the request span and metrics; FastAPI's
        # native OpenTelemetry (0.165+) would make a second set. Older FastAPI ignores this.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.router.route_class = StrictJsonRoute  # every body's strings Unicode, as the lane's
    install_docs(app)
    holder = holder or ServicesHolder(services)
    app.state.build_services = holder.build
    app.state.built = holder.built  # {"services": ...} once built (read, never written)
    app.state.get_services = holder.get

    _install_predict(app)
    _install_training_routes(app)
    _install_job_routes(app)
    _install_model_routes(app)
    install_monitoring_routes(app, needs, Svc, SECURED, errors)
    install_rollout_routes(app, needs, Svc, SECURED, errors)
    install_mlflow_routes(app, needs, SECURED, errors)
    install_oip_routes(app, needs, SECURED, errors)
    install_batch_routes(app, needs, Svc, SECURED, errors)
    _install_probes(app)
    _install_error_handlers(app)
    _document_bearer_auth(app)
    if middleware:  # added innermost first: Starlette wraps each around the ones before
        for layer, options in middleware_layers(holder, lambda: app.routes, fast_predict):
            app.add_middleware(layer, **options)
        if fast_predict:
            app.lane = in_front(functools.partial(FastAPI.__call__, app), holder)
    return app


SECURED: dict[str, Any] = {"security": [{BEARER_SCHEME: []}]}


def _install_predict(app: FastAPI) -> None:
    """POST /predict: the hot path, on the event loop for small warm batches."""

    @app.post(
        "/predict",
        dependencies=[needs("predict")],
        openapi_extra=SECURED,
        responses=errors(413, 422, 503),
    )
    async def predict(
        request: Request, response: Response, body: PredictRequest, later: BackgroundTasks
    ) -> dict[str, Any]:
        """Predictions from the version the routing gives this caller: the champion, or a
        canary challenger for its share of routing keys (header X-Mlfn-Routing-Key, else
        the token's subject, else the request id). X-Mlfn-Model-Version says which."""
        svc = await get_services(request)  # built by `needs` already: a lookup
        rows = rows_from_body(body.model_dump(exclude_none=True))
        return await serve_rows(request, response, later, svc, rows)

    @app.post(
        "/models/{model}/predict",
        dependencies=[needs("predict")],
        openapi_extra={**SECURED, "requestBody": ANY_MODEL_BODY},
        responses=errors(404, 413, 422, 503),
    )
    async def predict_model(
        request: Request,
        response: Response,
        later: BackgroundTasks,
        model: Annotated[str, Path(pattern=MODEL_REF_PATTERN, description=MODEL_REF_TEXT)],
    ) -> dict[str, Any]:
        """Predictions from any model in the store: `NAME` (its champion, or its canary
        for the caller's share) or `NAME@VERSION`. Loaded on first use; the process keeps
        the most recently used models within MLFN_MODEL_CACHE_MB. The body is /predict's,
        checked against the model once it is found (an unknown model is a 404 first)."""
        svc = await get_services(request)
        ref = parse_model_ref(model)
        predictor = await predictor_of(svc, ref.name)
        try:
            body = await request.json()
        except (ValueError, RecursionError) as exc:
            raise ValidationError(unreadable_json(exc)) from None
        rows = rows_from_body(body)
        return await serve_rows(request, response, later, svc, rows, predictor, ref.version)


async def predictor_of(svc: Services, name: str) -> Predictor:
    """The named model's Predictor; its first lookup reads the store, off the loop."""
    if svc.models.known(name):
        return svc.models.predictor(name)
    return await run_in_threadpool(svc.models.predictor, name)


async def serve_rows(
    request: Request,
    response: Response,
    later: BackgroundTasks,
    svc: Services,
    rows: Any,
    predictor: Predictor | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """The dataplane call of every protocol's predict route (core/api/dataplane.py), with
    the version header, the served version for telemetry, and a shadow's scoring after the
    answer. `predictor`: another model than the deployment's own; `version`: that version,
    not the routing's choice."""
    request_id = monitoring_context.request_id()  # the caller's X-Request-Id, or new
    answer, shadows = await score_rows(
        predictor or svc.predictor, rows, svc.max_rows, request_id,
        routing_key_of(request, request_id), version,
    )  # fmt: skip
    if shadows:
        later.add_task(run_deferred, shadows)
    version = answer["model"]["version"]
    setattr(request.state, SERVED, (answer["model"]["name"], version, len(rows)))
    response.headers[VERSION_HEADER] = str(version)
    return answer


def routing_key_of(request: Request, request_id: str | None) -> str | None:
    """Who the caller is, for sticky routing between champion and challenger."""
    user: Principal | None = request.scope.get("state", {}).get(PRINCIPAL)
    subject = user.subject if user is not None else None
    return routing_key(request.headers.get(ROUTING_HEADER), subject, request_id)


def _install_training_routes(app: FastAPI) -> None:
    """/train and /retrain: validate, then enqueue a job and answer 202."""

    @app.post(
        "/train",
        status_code=202,
        response_model=JobAccepted,
        openapi_extra=SECURED,
        responses=errors(404, 413, 422, 503),
    )
    def start_training(
        body: TrainRequest,
        svc: Svc,
        user: Annotated[Principal, needs("train")],
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        return _submit(svc, "train", body.model_dump(exclude_none=True), idempotency_key, user)

    @app.post(
        "/retrain",
        status_code=202,
        response_model=JobAccepted,
        openapi_extra=SECURED,
        responses=errors(404, 413, 422, 503),
    )
    def start_retraining(
        body: RetrainRequest,
        svc: Svc,
        user: Annotated[Principal, needs("train")],
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        if body.records is not None:
            _check_records(svc, body.records)
        return _submit(svc, "retrain", body.model_dump(exclude_none=True), idempotency_key, user)


def _install_job_routes(app: FastAPI) -> None:
    """The jobs: list (your own, or all for an admin), read, cancel."""

    @app.get(
        "/jobs",
        openapi_extra=SECURED,
        responses=errors(422, 503),
    )
    def jobs(
        svc: Svc,
        user: Annotated[Principal, needs("train")],
        status: JobStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(pattern=f"^{JOB_ID.pattern}$")] = None,
    ) -> dict[str, Any]:
        """Jobs newest first: a caller's own, or every job for an admin."""
        found = list_jobs(
            svc.jobs, subject=user.subject, is_admin=_is_admin(user), status=status,
            limit=limit, cursor=cursor,
        )  # fmt: skip
        return {**found, "jobs": [public_view(job) for job in found["jobs"]]}

    @app.get(
        "/jobs/{job_id}",
        openapi_extra=SECURED,
        responses=errors(404, 422, 503),
    )
    def job(job_id: str, svc: Svc, user: Annotated[Principal, needs("train")]) -> dict[str, Any]:
        return public_view(get_job(svc.jobs, job_id, user.subject, _is_admin(user)))

    @app.post(
        "/jobs/{job_id}/cancel",
        status_code=202,
        openapi_extra=SECURED,
        responses=errors(404, 409, 503),
    )
    def cancel(job_id: str, svc: Svc, user: Annotated[Principal, needs("train")]) -> dict[str, Any]:
        """Cancel a job (its owner, or an admin): a queued one at once, a running one
        within seconds; the champion is left as it is."""
        return public_view(cancel_job(svc.jobs, job_id, user.subject, _is_admin(user)))


def _install_model_routes(app: FastAPI) -> None:
    """GET /models and POST /models/{version}/promote."""

    @app.get(
        "/models",
        dependencies=[needs("predict")],
        openapi_extra=SECURED,
        responses=errors(503),
    )
    def models(svc: Svc) -> dict[str, Any]:
        return svc.registry.describe()

    @app.post(
        "/models/{version}/promote",
        openapi_extra=SECURED,
        responses=errors(404, 409, 413, 422, 503),
    )
    def promote(
        version: int, svc: Svc, user: Annotated[Principal, needs("admin")], force: bool = False
    ) -> dict[str, Any]:
        """Make VERSION the champion. 409 for the champion itself or a version whose
        primary metric is worse than the champion's (force=true promotes it anyway, e.g. a
        rollback); 422 for a version without an ONNX graph unless forced."""
        from core.promotion import promote_in_store

        promoted = promote_in_store(svc.registry, version, force=force, by=user.subject)
        return {key: promoted[key] for key in ("champion", "previous_champion")}


def _install_probes(app: FastAPI) -> None:
    """/health, /ready and /metrics (public)."""

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", responses=errors(503, secured=False))
    def ready(svc: Svc) -> dict[str, Any]:
        model = svc.predictor.current()  # 503 until the champion loads
        return {"status": "ready", "model": {"name": svc.registry.name, "version": model.version}}

    @app.get(
        "/metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
    )
    def metrics(svc: Svc) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(svc.prometheus.exposition(), media_type=CONTENT_TYPE_LATEST)


def _submit(
    svc: Services, kind: str, request: dict[str, Any], idempotency_key: str | None, user: Principal
) -> dict[str, Any]:
    if request.get("dataset"):
        check_caller_dataset_found(svc.settings, svc.store, str(request["dataset"]))
    try:
        check_caller_params(request.get("params") or {}, svc.settings.config.training_limits)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    authority = "admin" if _is_admin(user) else "train"
    record = submit_job(
        svc.store, svc.dispatcher, kind, request, idempotency_key, user.subject, authority,
        svc.settings.config.training,
    )  # fmt: skip
    svc.prometheus.count_submitted(kind)
    return {"job_id": record["job_id"], "status": record["status"]}


def _is_admin(user: Principal) -> bool:
    return "admin" in user.scopes


def _check_records(svc: Services, records: list[dict[str, Any]]) -> None:
    """Retrain records must fit the champion's schema and carry the target."""
    model = svc.predictor.current()
    target = model.metadata["target"]
    for i, record in enumerate(records):
        if record.get(target) is None:
            raise ValidationError(f"records[{i}]: missing the target '{target}'")
        if model.metadata["task"] == "regression" and (
            isinstance(record[target], bool) or not isinstance(record[target], int | float)
        ):
            raise ValidationError(f"records[{i}]: target '{target}' must be a number")
    validate_rows([{k: v for k, v in r.items() if k != target} for r in records], model.spec)
