"""POST /feedback, GET /monitoring/drift/latest and GET /models/{version}/live."""

from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from core.api.schemas import FeedbackRequest
from core.auth import Principal
from core.drift.records import latest_report, record_feedback
from core.errors import MissingScopeError, NotFoundError


def feedback_scope(settings: Any) -> str:
    """`feedback`, or `predict` when the config lets predicting callers send labels."""
    policy = settings.config.monitoring
    return "predict" if policy is not None and policy.feedback_scope == "predict" else "feedback"


def install_monitoring_routes(app: FastAPI, needs: Any, svc_type: Any, secured: Any,
                              errors: Any) -> None:  # fmt: skip
    from fastapi import Depends

    from core.api.app import get_services
    from core.api.middleware import PRINCIPAL

    async def may_send_feedback(request: Request) -> Principal:
        user: Principal | None = request.scope.get("state", {}).get(PRINCIPAL)
        if user is None:
            raise MissingScopeError("this call needs the 'feedback' scope")
        allowed = feedback_scope((await get_services(request)).settings)
        if "feedback" not in user.scopes and allowed not in user.scopes:
            raise MissingScopeError(f"this call needs the '{allowed}' scope")
        return user

    may_send_feedback.mlfn_scope = "feedback"  # type: ignore[attr-defined]

    @app.post("/feedback", openapi_extra=secured, responses=errors(413, 422, 503))
    def feedback(
        body: FeedbackRequest, svc: svc_type, user: Annotated[Principal, Depends(may_send_feedback)]
    ) -> dict[str, Any]:
        """Labels for earlier predictions, by the ids /predict returned."""
        items = [item.model_dump() for item in body.feedback]
        return record_feedback(svc.store, items, user.subject) | _unknown_labels(svc, items)

    @app.get(
        "/monitoring/drift/latest",
        dependencies=[needs("predict")],
        openapi_extra=secured,
        responses=errors(404, 503),
    )
    def drift_latest(svc: svc_type, format: str = "json") -> Any:
        """The latest monitoring report (format=html: the standalone page)."""
        report = latest_report(svc.store, svc.settings.config.model_name)
        if format == "html":
            html = svc.store.read_bytes(report["report_keys"]["html"]).decode()
            return HTMLResponse(html)
        return report

    @app.get(
        "/models/{version}/live",
        dependencies=[needs("predict")],
        openapi_extra=secured,
        responses=errors(404, 503),
    )
    def live(version: int, svc: svc_type) -> dict[str, Any]:
        """Live figures of VERSION: labelled metrics as of the latest monitoring run, and
        its traffic (requests, errors, latency, predictions) as of the latest rollout run."""
        svc.registry.metadata(version)  # 404 for a version that does not exist
        return live_of(svc.store, svc.settings.config.model_name, version)


SHOWN_LABELS = 20


def _unknown_labels(svc: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Labels the champion has no class for (a misspelling, "Yes " for "yes", 1 for "1"):
    stored as sent all the same (a new class is news too), but said, with the classes."""
    from core.errors import MlfnError
    from core.training.targets import label_key

    try:  # the champion's metadata (a small read), not its model: this call scores nothing
        champion = svc.registry.champion()
        metadata = svc.registry.metadata(champion.version) if champion is not None else {}
    except MlfnError:  # the store cannot say: the labels are stored all the same
        return {}
    if metadata.get("task") != "classification":
        return {}
    classes = metadata["classes"]
    known = {label_key(label) for label in classes}
    unknown = list(dict.fromkeys(
        item["label"] for item in items if label_key(item["label"]) not in known
    ))  # fmt: skip
    if not unknown:
        return {}
    return {
        "unknown_labels": unknown[:SHOWN_LABELS],
        "note": f"{len(unknown)} label(s) are not a class of champion v{champion.version} "
        f"({', '.join(map(repr, classes[:SHOWN_LABELS]))}): stored as sent, they count as "
        "wrong predictions; check their spelling and JSON type",
    }


def _read_or_none(store: Any, read: Any) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = read()
    except NotFoundError:
        return None
    return found


def live_of(store: Any, model: str, version: int) -> dict[str, Any]:
    """The live entry of one version from the latest drift and rollout reports."""
    from core.routing import rollout_report_key

    report = _read_or_none(store, lambda: latest_report(store, model))
    key = rollout_report_key(model)
    rollout = _read_or_none(store, lambda: store.read_json(key))
    entry = (report or {}).get("live", {}).get(str(version))
    traffic = (rollout or {}).get("live", {}).get(str(version))
    if entry is None and traffic is None:
        where = (
            f"the latest run's window ({report['window']['start']} to {report['window']['end']})"
            if report
            else "any monitoring or rollout run yet"
        )
        raise NotFoundError(f"no live figures of version {version} in {where}")
    answer: dict[str, Any] = {"version": version, "as_of": (report or rollout or {})["time"]}
    answer.update(entry or {})
    if traffic is not None and rollout is not None:
        answer["traffic"] = {"as_of": rollout["time"], "since": rollout["since"], **traffic}
    return answer
