"""MLflow's scoring protocol over the dataplane: POST /invocations (scope predict), and the
public GET /ping and GET /version, so MLflow's own scoring client and anything written for
`mlflow models serve` work against mlfn unchanged (with a bearer token added)."""

from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from core.api.conformance import MlflowErrorBody
from core.api.mlflow_codec import decode, only_known

GENERIC_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object"}},  # the champion's: precise_bodies
    },
}
CSV_NOTE = " Also takes text/csv with a header line (numbers as numbers, empty cells as nulls)."


def _feature_names(plan: Any) -> tuple[list[str], list[str]]:
    """The champion's features in order (a tensor's columns), and every feature a serving
    version uses (what is kept of a row: a challenger may use other columns)."""
    order = plan.champion.spec.names
    used = set(order)
    if plan.challenger_model is not None:
        used |= set(plan.challenger_model.spec.names)
    return order, sorted(used)


def install_mlflow_routes(app: FastAPI, needs: Any, secured: Any, errors: Any) -> None:
    from core.api.app import get_services, serve_rows

    @app.post(
        "/invocations",
        dependencies=[needs("predict")],
        openapi_extra={**secured, "requestBody": GENERIC_BODY},
        responses=errors(413, 503, body=MlflowErrorBody),
    )
    async def invocations(
        request: Request, response: Response, later: BackgroundTasks
    ) -> dict[str, Any]:
        """MLflow's scoring protocol: one of `dataframe_split`, `dataframe_records`,
        `instances` or `inputs` (rows, columns, or lists in the schema's order), optional
        `params`; or text/csv with a header line (numbers as numbers, empty cells as nulls).
        Answers `{"predictions": [...]}`; errors in MLflow's shape, 400 for bad input."""
        svc = await get_services(request)
        plan = svc.predictor.plan() if svc.predictor.is_warm() else (
            await run_in_threadpool(svc.predictor.plan))  # fmt: skip
        order, used = _feature_names(plan)
        body = await request.body()
        rows, _params = decode(body, request.headers.get("content-type", ""), order)
        answer = await serve_rows(request, response, later, svc, only_known(rows, used))
        return {"predictions": answer["predictions"]}

    @app.get(
        "/ping",
        response_class=PlainTextResponse,
        responses=errors(503, secured=False, body=MlflowErrorBody),
    )
    async def ping(request: Request) -> str:
        """MLflow's health probe: 200 once the champion is loaded (503 before)."""
        svc = await get_services(request)
        await run_in_threadpool(svc.predictor.current)
        return "\n"

    @app.get("/version", response_class=PlainTextResponse)
    async def version() -> str:
        """The serving software's version (mlfn's; MLflow answers its own here)."""
        from core import __version__

        return __version__
