"""Jobs over HTTP: idempotency done right, listing and reading by owner, cancel, metrics,
and `mlfn jobs` / `mlfn serve` recovering a store's jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.api import Services, create_app
from core.auth import Authenticator, AuthSettings
from core.cli import main
from core.errors import UnavailableError
from core.jobs.record import JobStore
from core.jobs.submit import KEYS_PREFIX
from core.jobs.sweep import sweep
from core.training.run import train
from tests.conftest import REPO, make_project, project_settings
from tests.jobs_helpers import FAST, QUICK_LEASES, SLOW, wait_until
from tests.unit.test_api import SECRET, token


class FlakyQueue:
    """A queue that refuses while `down`, and records what it accepted."""

    def __init__(self) -> None:
        self.down = False
        self.sent: list[str] = []

    def submit(self, job_id: str) -> None:
        if self.down:
            raise UnavailableError("the training queue is unavailable: connection refused")
        self.sent.append(job_id)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, Services, FlakyQueue]]:
    settings, store = project_settings(tmp_path, training=QUICK_LEASES)
    train(settings, store, model_types=["logistic_regression"])
    queue = FlakyQueue()
    auth = Authenticator(AuthSettings(SECRET, None, "mlfn", "mlfn-api"))
    services = Services(settings, store, queue, auth)
    with TestClient(create_app(services), raise_server_exceptions=False) as http:
        yield http, services, queue


def _as(subject: str, *scopes: str, key: str | None = None) -> dict[str, str]:
    headers = token(*scopes, subject=subject)
    return {**headers, "Idempotency-Key": key} if key else headers


def test_same_key_same_body_is_the_same_job(client: Any) -> None:
    http, _, queue = client
    first = http.post("/train", json=FAST, headers=_as("alice", "train", key="k-1"))
    again = http.post("/train", json=FAST, headers=_as("alice", "train", key="k-1"))
    assert first.status_code == again.status_code == 202
    assert first.json()["job_id"] == again.json()["job_id"]
    assert queue.sent == [first.json()["job_id"]]  # dispatched once
    other = http.post("/train", json=FAST, headers=_as("bob", "train", key="k-1"))
    assert other.json()["job_id"] != first.json()["job_id"]  # keys are per caller


def test_same_key_other_body_is_422(client: Any) -> None:
    http, _, _ = client
    http.post("/train", json=FAST, headers=_as("alice", "train", key="k-2"))
    answer = http.post("/train", json=SLOW, headers=_as("alice", "train", key="k-2"))
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "idempotency_key_reused"


def test_a_key_whose_enqueue_failed_is_dispatched_on_retry(client: Any) -> None:
    http, services, queue = client
    queue.down = True
    refused = http.post("/train", json=FAST, headers=_as("alice", "train", key="k-3"))
    assert refused.status_code == 503
    assert "retry with the same Idempotency-Key" in refused.json()["error"]["message"]
    (job_id,) = JobStore(services.store).ids()[-1:]
    assert JobStore(services.store).get(job_id)["dispatch_error"]["code"] == "enqueue_failed"
    queue.down = False
    retried = http.post("/train", json=FAST, headers=_as("alice", "train", key="k-3"))
    assert retried.status_code == 202 and retried.json()["job_id"] == job_id
    assert queue.sent == [job_id]
    assert JobStore(services.store).get(job_id)["dispatched_at"]


def test_without_a_key_a_refused_job_is_failed_not_left_to_run(client: Any) -> None:
    http, services, queue = client
    queue.down = True
    assert http.post("/train", json=FAST, headers=_as("alice", "train")).status_code == 503
    (job_id,) = JobStore(services.store).ids()[-1:]
    record = JobStore(services.store).get(job_id)
    assert record["status"] == "failed" and record["error"]["code"] == "enqueue_failed"


def test_keys_expire(client: Any) -> None:
    http, services, _ = client
    first = http.post("/train", json=FAST, headers=_as("alice", "train", key="k-4"))
    (key,) = services.store.list(KEYS_PREFIX + "/")
    held = services.store.read_json(key)
    held["created_at"] = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    services.store.write_json(key, held)
    later = http.post("/train", json=SLOW, headers=_as("alice", "train", key="k-4"))
    assert later.status_code == 202 and later.json()["job_id"] != first.json()["job_id"]
    held = services.store.read_json(key)
    held["created_at"] = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    services.store.write_json(key, held)
    assert sweep(services.store, services.settings.config.training, FlakyQueue())[
        "expired_keys"] == 1  # fmt: skip
    assert services.store.list(KEYS_PREFIX + "/") == []


def test_callers_see_their_own_jobs_admins_all(client: Any) -> None:
    http, _, _ = client
    mine = [http.post("/train", json=FAST, headers=_as("alice", "train")).json()["job_id"]
            for _ in range(3)]  # fmt: skip
    theirs = http.post("/train", json=FAST, headers=_as("bob", "train")).json()["job_id"]
    page = http.get("/jobs?limit=2", headers=_as("alice", "train")).json()
    assert [job["job_id"] for job in page["jobs"]] == mine[::-1][:2]  # newest first
    rest = http.get(f"/jobs?limit=2&cursor={page['next_cursor']}", headers=_as("alice", "train"))
    assert [job["job_id"] for job in rest.json()["jobs"]] == [mine[0]]
    assert rest.json()["next_cursor"] is None
    assert "request" not in page["jobs"][0]
    everyone = http.get("/jobs", headers=_as("root", "admin", "train")).json()["jobs"]
    assert {job["job_id"] for job in everyone} == {*mine, theirs}
    assert http.get(f"/jobs/{theirs}", headers=_as("alice", "train")).status_code == 404
    assert http.get(f"/jobs/{theirs}", headers=_as("root", "admin", "train")).status_code == 200
    queued = http.get("/jobs?status=queued", headers=_as("bob", "train")).json()["jobs"]
    assert [job["job_id"] for job in queued] == [theirs]
    assert http.get("/jobs?status=lost", headers=_as("bob", "train")).status_code == 422


def test_cancel_over_http(client: Any) -> None:
    http, _, _ = client
    job_id = http.post("/train", json=FAST, headers=_as("alice", "train")).json()["job_id"]
    assert http.post(f"/jobs/{job_id}/cancel", headers=_as("bob", "train")).status_code == 404
    assert http.post(f"/jobs/{job_id}/cancel", headers=_as("bob", "predict")).status_code == 403
    answer = http.post(f"/jobs/{job_id}/cancel", headers=_as("alice", "train"))
    assert answer.status_code == 202 and answer.json()["status"] == "cancelled"
    again = http.post(f"/jobs/{job_id}/cancel", headers=_as("root", "admin", "train"))
    assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]


def test_metrics_count_jobs_by_status_and_the_queue(client: Any) -> None:
    http, _, _ = client
    for _ in range(2):
        http.post("/train", json=FAST, headers=_as("alice", "train"))
    job_id = http.post("/train", json=FAST, headers=_as("alice", "train")).json()["job_id"]
    http.post(f"/jobs/{job_id}/cancel", headers=_as("alice", "train"))
    text = http.get("/metrics").text
    assert 'mlfn_jobs{status="queued"} 2.0' in text
    assert 'mlfn_jobs{status="cancelled"} 1.0' in text
    assert "mlfn_job_queue_depth 2.0" in text


def test_mlfn_jobs_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_project(tmp_path, training=QUICK_LEASES)
    _, store = project_settings(tmp_path, training=QUICK_LEASES)
    jobs = JobStore(store)
    queued = jobs.create("train", FAST, owner="alice")  # and the API died before dispatching
    jobs.update(queued["job_id"], created_at=(datetime.now(UTC) - timedelta(minutes=1)).isoformat())
    assert main(["jobs", "list", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert queued["job_id"] in listing and "queued" in listing
    assert main(["jobs", "sweep", "--config", str(config), "--json"]) == 0  # runs it here
    assert json.loads(capsys.readouterr().out)["redispatched"] == [queued["job_id"]]
    assert jobs.get(queued["job_id"])["status"] == "succeeded"
    assert main(["jobs", "show", queued["job_id"], "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert "succeeded" in shown and "attempt 1" in shown
    assert main(["jobs", "logs", queued["job_id"], "--config", str(config)]) == 0
    assert "--- attempt 1" in capsys.readouterr().out
    assert main(["jobs", "cancel", queued["job_id"], "--config", str(config)]) == 2
    assert "already succeeded" in capsys.readouterr().err
    other = jobs.create("train", FAST)
    assert main(["jobs", "cancel", other["job_id"], "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "cancelled"


def test_serve_recovers_the_store_s_jobs_on_start(tmp_path: Path) -> None:
    """A server killed with jobs queued and one running: the next one runs them all."""
    config = make_project(tmp_path, training=QUICK_LEASES)
    settings, store = project_settings(tmp_path, training=QUICK_LEASES)
    jobs = JobStore(store)
    jobs.create("train", FAST, owner="alice")  # queued when the last server died
    from core.jobs.lease import claim

    lost = jobs.create("train", FAST)["job_id"]
    claim(jobs, lost, "a-server-killed-earlier", settings.config.training)
    server, port = _serve(config, tmp_path)
    try:
        wait_until(lambda: all(jobs.get(i)["status"] == "succeeded" for i in jobs.ids()),
                   seconds=90, what="recovered jobs to finish")  # fmt: skip
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
            assert answer.status == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert jobs.get(lost)["attempts"] == 2  # the lost attempt, then the recovered one


def test_a_killed_training_process_never_takes_serve_down(tmp_path: Path) -> None:
    """SIGKILL the training process of a job `mlfn serve` runs: the API keeps answering and
    the job's next attempt succeeds."""
    import signal

    from tests.jobs_helpers import kill_attempt

    config = make_project(tmp_path, training=QUICK_LEASES)
    settings, store = project_settings(tmp_path, training=QUICK_LEASES)
    train(settings, store, model_types=["logistic_regression"])
    jobs = JobStore(store)
    server, port = _serve(config, tmp_path)
    base, headers = f"http://127.0.0.1:{port}", {**token("train", "predict"),
                                                  "Content-Type": "application/json"}  # fmt: skip

    def call(path: str, body: Any) -> Any:
        request = urllib.request.Request(base + path, json.dumps(body).encode(), headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    try:
        wait_until(lambda: _answers(base + "/health"), seconds=60, what="mlfn serve")
        job_id = call("/train", SLOW)["job_id"]
        kill_attempt(job_id, 1, lambda: jobs.get(job_id))
        assert _answers(base + "/health")
        row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
        assert call("/predict", {"instances": [row]})["predictions"]
        wait_until(lambda: jobs.get(job_id)["status"] == "succeeded", 120, "the retried job")
        assert jobs.get(job_id)["attempts"] == 2 and server.poll() is None
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)


def _serve(config: Path, home: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`mlfn serve` on a free loopback port, as a user starts it (its own process)."""
    from tests.contract.test_doors import free_port

    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "MLFN_JWT_SECRET": SECRET, "MLFN_TRACKING": "off",
           "PYTHONPATH": str(REPO), "HOME": str(home)}  # fmt: skip
    argv = [sys.executable, "-m", "core.cli", "serve", "--config", str(config)]
    return subprocess.Popen([*argv, "--port", str(port)], cwd=REPO, env=env), port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False
