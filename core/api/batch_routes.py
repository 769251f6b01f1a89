"""Batch scoring over HTTP (scope predict): POST /batch queues a batch job and answers 202;
GET /batch/{job_id} is the job, and its batch's progress once planned."""

from typing import Annotated, Any

from fastapi import FastAPI, Header

from core.api.schemas import BatchBody, JobAccepted
from core.auth import Principal
from core.errors import MlfnError


def install_batch_routes(app: FastAPI, needs: Any, svc_type: Any, secured: Any,
                         errors: Any) -> None:  # fmt: skip
    Caller = Annotated[Principal, needs("predict")]

    @app.post(
        "/batch", status_code=202, response_model=JobAccepted, openapi_extra=secured,
        responses=errors(413, 422, 503),
    )  # fmt: skip
    def start_batch(
        body: BatchBody, svc: svc_type, user: Caller,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Score a dataset in chunks to Parquet part files and a manifest (or a Kafka
        topic); 202 and a job. The chunks run in parallel: a process pool here, the
        queue's workers in the cloud."""
        from core.batch.jobs import caller_request
        from core.jobs.submit import submit_job

        request = caller_request(svc.settings, svc.store, body.model_dump(exclude_none=True))
        record = submit_job(
            svc.store, svc.dispatcher, "batch", request, idempotency_key, user.subject,
            "predict", svc.settings.config.training,
        )  # fmt: skip
        svc.prometheus.count_submitted("batch")
        return {"job_id": record["job_id"], "status": record["status"]}

    @app.get("/batch/{job_id}", openapi_extra=secured, responses=errors(404, 422, 503))
    def batch(job_id: str, svc: svc_type, user: Caller) -> dict[str, Any]:
        """The batch job (yours, or any for an admin) and, once planned, its progress:
        chunks done of all, rows scored and rejected, and the manifest when finished."""
        from core.batch.status import batch_status
        from core.jobs.manage import get_job
        from core.jobs.record import public_view

        record = public_view(get_job(svc.jobs, job_id, user.subject, "admin" in user.scopes))
        if record.get("kind") != "batch":
            from core.errors import NotFoundError

            raise NotFoundError(f"job {job_id} is not a batch")
        batch_id = (record.get("result") or {}).get("batch_id")
        if batch_id:
            try:
                record["batch"] = batch_status(svc.store, batch_id)
            except MlfnError as exc:
                record["batch"] = {"error": exc.message}
        return record
