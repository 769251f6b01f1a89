"""The Open Inference Protocol v2 (REST) over the dataplane, as KServe and Triton speak it:
GET /v2, /v2/health/live, /v2/health/ready (public, as probes are), the model's metadata and
readiness, and POST .../infer (scope predict), with or without /versions/{version}. Without
a version the routing answers (champion, canary, shadow); with one, that version does."""

from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from core.api.conformance import OipErrorBody
from core.api.oip_codec import model_metadata, output_tensors, requested_outputs, rows_of_request
from core.api.oip_codec import response as infer_response
from core.errors import MlfnError, NotFoundError, ValidationError, unreadable_json

INFER_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
BASE, PINNED = "/v2/models/{name}", "/v2/models/{name}/versions/{version}"


class ServerReady(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


NOT_READY_SERVER: dict[int | str, dict[str, Any]] = {
    503: {"model": ServerReady, "description": "No champion can be served yet"}
}
NOT_READY_MODEL: dict[int | str, dict[str, Any]] = {
    503: {"model": ModelReady, "description": "The model cannot be served"}
}


async def _predictor(request: Request, name: str) -> tuple[Any, Any]:
    """The services and the named model's Predictor (any model in the store; 404 else)."""
    from core.api.app import get_services, predictor_of
    from core.model_pool import MODEL_NAME

    svc = await get_services(request)
    if not MODEL_NAME.match(name):
        raise NotFoundError(f"model '{name}' does not exist; model names are lowercase")
    return svc, await predictor_of(svc, name)


async def _model(predictor: Any, version: str | None) -> Any:
    """The champion (on the loop when warm: no store I/O), or one named version."""
    if version is None:
        if predictor.is_warm():
            return predictor.current()
        return await run_in_threadpool(predictor.current)
    return await run_in_threadpool(predictor.predict_version_model, _number(version))


def _number(version: str) -> int:
    if not version.isdigit():
        raise NotFoundError(f"model version '{version}' does not exist; versions are numbers")
    return int(version)


async def metadata(request: Request, name: str, version: str | None = None) -> Any:
    _, predictor = await _predictor(request, name)
    model = await _model(predictor, version)
    return model_metadata(name, await run_in_threadpool(predictor.registry.versions), model)


async def model_ready(request: Request, name: str, version: str | None = None) -> Any:
    _, predictor = await _predictor(request, name)
    try:
        await _model(predictor, version)
    except MlfnError:
        return JSONResponse({"name": name, "ready": False}, 503)
    return {"name": name, "ready": True}


async def infer(
    request: Request, response: Response, later: BackgroundTasks, name: str,
    version: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    from core.api.app import serve_rows

    svc, predictor = await _predictor(request, name)
    try:
        body = await request.json()
    except (ValueError, RecursionError) as exc:
        raise ValidationError(unreadable_json(exc, "send an inference request object")) from None
    model = await _model(predictor, version)
    rows = rows_of_request(body, model.spec.names)
    requested_outputs(body, [t["name"] for t in output_tensors(model.metadata)])
    pinned = None if version is None else model.version
    answer = await serve_rows(request, response, later, svc, rows, predictor, pinned)
    return infer_response(body, name, answer)


def install_oip_routes(app: FastAPI, needs: Any, secured: Any, errors: Any) -> None:
    _install_probes(app, errors)
    scoped = {"dependencies": [needs("predict")], "openapi_extra": secured,
              "responses": errors(404, 503, body=OipErrorBody)}  # fmt: skip
    ready_options = {**scoped, "responses": {**errors(404, body=OipErrorBody), **NOT_READY_MODEL}}
    infer_options = {"dependencies": [needs("predict")],
                     "responses": errors(404, 413, 503, body=OipErrorBody),
                     "openapi_extra": {**secured, "requestBody": INFER_BODY}}  # fmt: skip

    @app.get(BASE, **scoped)
    async def model_metadata_latest(request: Request, name: str) -> Any:
        """The model's inputs and outputs, with datatypes and shapes."""
        return await metadata(request, name)

    @app.get(PINNED, **scoped)
    async def model_metadata_pinned(request: Request, name: str, version: str) -> Any:
        """One version's inputs and outputs."""
        return await metadata(request, name, version)

    @app.get(BASE + "/ready", **ready_options)
    async def model_ready_latest(request: Request, name: str) -> Any:
        return await model_ready(request, name)

    @app.get(PINNED + "/ready", **ready_options)
    async def model_ready_pinned(request: Request, name: str, version: str) -> Any:
        return await model_ready(request, name, version)

    @app.post(BASE + "/infer", **infer_options)
    async def infer_latest(
        request: Request, response: Response, later: BackgroundTasks, name: str
    ) -> dict[str, Any]:
        """Inputs by feature name or one 2-D tensor; outputs label and probabilities; the
        routing answers (champion, canary, shadow)."""
        return await infer(request, response, later, name)

    @app.post(PINNED + "/infer", **infer_options)
    async def infer_pinned(
        request: Request, response: Response, later: BackgroundTasks, name: str, version: str
    ) -> dict[str, Any]:
        """The same, answered by VERSION."""
        return await infer(request, response, later, name, version)


def _install_probes(app: FastAPI, errors: Any) -> None:
    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        """The server: name, version, extensions."""
        from core import __version__

        return {"name": "mlfn", "version": __version__, "extensions": []}

    @app.get("/v2/health/live")
    async def server_live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", responses=NOT_READY_SERVER)
    async def server_ready(request: Request) -> Any:
        """Ready once the champion is loaded."""
        from core.api.app import get_services

        svc = await get_services(request)
        try:
            await run_in_threadpool(svc.predictor.current)
        except MlfnError:
            return JSONResponse({"ready": False}, 503)
        return {"ready": True}
