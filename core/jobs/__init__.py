"""Training jobs, one lifecycle on every cloud: `queued → running → succeeded | failed |
cancelled`, each transition a compare-and-swap on the record in the store.

- record.py: the job record and its log;      lease.py: claim, heartbeat lease, release;
- submit.py: Idempotency-Key and dispatch;    slots.py: `max_concurrent_jobs` per store;
- runner.py: one attempt, in the working process (heartbeat, checkpoints, finish);
- supervise.py: the worker that runs attempts in child processes and watches them;
- local.py: `mlfn serve`'s dispatcher;        queues.py: SQS, Pub/Sub, Storage queues;
- worker.py: what the cloud worker functions call;  sweep.py: recovering lost jobs;
- manage.py: list, read, cancel, count;       schedules.py: the sweep's schedule.
"""

from core.jobs.local import LocalDispatcher
from core.jobs.runner import run_job
from core.jobs.submit import Dispatcher, submit_job
from core.jobs.supervise import run_job_in_child
from core.jobs.worker import handle_message, run_job_by_id

__all__ = [
    "Dispatcher",
    "LocalDispatcher",
    "handle_message",
    "run_job",
    "run_job_by_id",
    "run_job_in_child",
    "submit_job",
]
