"""The Open Inference Protocol v2 (REST) over the dataplane, as KServe and Triton speak it:
GET /v2, /v2/health/live, /v2/health/ready (public, as probes are), the model's metadata and
readiness, and POST .../infer (scope predict), with or without /versions/{version}. Without
a version the routing answers (champion, canary, shadow); with one, that version does."""

from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from core.api.oip_codec import model_metadata, output_tensors, requested_outputs, rows_of_request
from core.api.oip_codec import response as infer_response
from core.errors import MlfnError, NotFoundError, ValidationError

INFER_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


def _served(svc: Any, name: str) -> None:
    served = svc.settings.config.model_name
    if name != served:
        raise NotFoundError(f"model '{name}' is not served here; this deployment serves '{served}'")


def _version(value: str) -> int:
    if not value.isdigit():
        raise NotFoundError(f"model version '{value}' does not exist; versions are numbers")
    return int(value)


async def _model(svc: Any, version: int | None) -> Any:
    if version is None:
        return await run_in_threadpool(svc.predictor.current)
    return await run_in_threadpool(lambda: svc.predictor.predict_version_model(version))


def install_oip_routes(app: FastAPI, needs: Any, secured: Any, errors: Any) -> None:
    from core.api.app import get_services, serve_rows

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        """The server: name, version, extensions."""
        from core import __version__

        return {"name": "mlfn", "version": __version__, "extensions": []}

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", responses=errors(503, secured=False))
    async def ready(request: Request) -> Any:
        """Ready once the champion is loaded."""
        svc = await get_services(request)
        try:
            await run_in_threadpool(svc.predictor.current)
        except MlfnError:
            return JSONResponse({"ready": False}, 503)
        return {"ready": True}

    async def metadata(request: Request, name: str, version: str | None = None) -> Any:
        """The model's inputs and outputs, with datatypes and shapes."""
        svc = await get_services(request)
        _served(svc, name)
        model = await _model(svc, _version(version) if version else None)
        versions = await run_in_threadpool(svc.registry.versions)
        return model_metadata(name, versions, model)

    async def model_ready(request: Request, name: str, version: str | None = None) -> Any:
        svc = await get_services(request)
        _served(svc, name)
        try:
            await _model(svc, _version(version) if version else None)
        except MlfnError:
            return JSONResponse({"name": name, "ready": False}, 503)
        return {"name": name, "ready": True}

    async def infer(
        request: Request, response: Response, later: BackgroundTasks, name: str,
        version: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Inputs by feature name or one 2-D tensor; outputs label and probabilities."""
        svc = await get_services(request)
        _served(svc, name)
        try:
            body = await request.json()
        except ValueError:
            raise ValidationError("the body is not valid JSON") from None
        model = await _model(svc, _version(version) if version else None)
        rows = rows_of_request(body, model.spec.names)
        requested_outputs(body, [t["name"] for t in output_tensors(model.metadata)])
        if version is None:
            answer = await serve_rows(request, response, later, svc, rows)
        else:
            answer = await run_in_threadpool(svc.predictor.predict_version, model.version, rows)
        return infer_response(body, name, answer)

    scoped = {"dependencies": [needs("predict")], "openapi_extra": secured,
              "responses": errors(404, 503)}  # fmt: skip
    for base in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        app.get(base, **scoped)(metadata)
        app.get(base + "/ready", **scoped)(model_ready)
        app.post(
            base + "/infer", dependencies=[needs("predict")],
            openapi_extra={**secured, "requestBody": INFER_BODY},
            responses=errors(404, 413, 422, 503),
        )(infer)  # fmt: skip
