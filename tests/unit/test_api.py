"""The HTTP API through Starlette's TestClient, on a local store with the local job worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.api import Services, create_app
from core.auth import Authenticator, AuthSettings, mint_token
from core.jobs import LocalDispatcher
from core.training.run import train
from tests.conftest import project_settings

SECRET = "api-test-secret-0123456789abcdefghij"
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def token(*scopes: str, **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, list(scopes), **kwargs)}"}


def local_services(settings: Any, store: Any, secret: str = SECRET) -> Services:
    """The app's services with the local job worker and an HS256 authenticator."""
    return Services(
        settings,
        store,
        LocalDispatcher(settings, store),
        Authenticator(AuthSettings(secret, None, "mlfn", "mlfn-api")),
    )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Services]]:
    settings, store = project_settings(tmp_path)
    train(settings, store)
    services = local_services(settings, store)
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        yield client, services


def wait_for(client: TestClient, job_id: str, services: Services) -> dict:
    services.dispatcher.wait()  # type: ignore[attr-defined]
    return client.get(f"/jobs/{job_id}", headers=token("train")).json()


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [ROW]},
        {"dataframe_records": [ROW]},
        {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())]}},
    ],
)
def test_predict_body_shapes(api, body: dict) -> None:
    client, _ = api
    answer = client.post("/predict", json=body, headers=token("predict"))
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["predictions"] == ["setosa"] and data["model"] == {"name": "iris", "version": 1}
    assert len(data["probabilities"][0]) == 3


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"instances": [{**ROW, "sepal_width": "wide"}]},
            422,
            "row 0: feature 'sepal_width' must be a number",
        ),
        ({"instances": [{"sepal_length": 1}]}, 422, "missing feature(s)"),
        ({"instances": [ROW], "dataframe_records": [ROW]}, 422, "exactly one of"),
        ({"rows": [ROW]}, 422, "unknown field 'rows'; wrap rows in"),
        ({"instances": "x"}, 422, "instances: expected a JSON list"),
        ({"instances": [1]}, 422, "instances.0: expected a JSON object"),
    ],
)
def test_predict_bad_input(api, body: dict, status: int, message: str) -> None:
    client, _ = api
    answer = client.post("/predict", json=body, headers=token("predict"))
    assert answer.status_code == status
    assert message in answer.json()["error"]["message"]
    assert "Traceback" not in answer.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer garbage"},
        token("predict", ttl=-120),
        {"Authorization": f"Bearer {mint_token('wrong-secret-0123456789abcdefgh', ['predict'])}"},
        token("predict", audience="someone-else"),
    ],
    ids=["missing", "malformed", "expired", "wrong-signature", "wrong-audience"],
)
def test_bad_tokens_get_401(api, headers: dict) -> None:
    client, _ = api
    answer = client.post("/predict", json={"instances": [ROW]}, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    assert answer.headers["www-authenticate"] == "Bearer"


def test_missing_scope_gets_403(api) -> None:
    client, _ = api
    assert client.post("/train", json={}, headers=token("predict")).status_code == 403
    denied = client.post("/models/1/promote", headers=token("predict", "train"))
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "insufficient_scope"


def test_train_job_then_predict_with_the_new_version(api) -> None:
    client, services = api
    accepted = client.post("/train", json={"model_type": "random_forest"}, headers=token("train"))
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    job = wait_for(client, accepted.json()["job_id"], services)
    assert job["status"] == "succeeded", job
    assert job["kind"] == "train" and job["result"]["version"] == 2
    forced = client.post("/models/2/promote", headers=token("admin"))
    assert forced.json() == {"champion": 2, "previous_champion": 1}
    services.predictor.champion_ttl = 0
    answer = client.post("/predict", json={"instances": [ROW]}, headers=token("predict"))
    assert answer.json()["model"]["version"] == 2
    assert services.store.exists(f"logs/jobs/{job['job_id']}.log")
    metrics = client.get("/metrics").text
    assert 'mlfn_jobs_total{kind="train",status="submitted"} 1.0' in metrics
    assert 'mlfn_jobs_total{kind="train",status="succeeded"} 1.0' in metrics


def test_failed_training_job_reports_a_clear_error(api) -> None:
    client, services = api
    refused = client.post(
        "/train", json={"params": {"random_forest": {"depth": 3}}}, headers=token("train")
    )
    assert refused.status_code == 422 and "random_forest.depth" in refused.text
    missing = client.post(
        "/train", json={"dataset": "data/raw/missing.csv"}, headers=token("train")
    )  # refused before queuing: its job could only fail
    assert missing.status_code == 404 and "nothing at 'data/raw/missing.csv'" in missing.text
    services.store.write_bytes("data/raw/broken.csv", b"sepal_length,species\n\xff,setosa\n")
    accepted = client.post(
        "/train", json={"dataset": "data/raw/broken.csv"}, headers=token("train")
    )
    job = wait_for(client, accepted.json()["job_id"], services)
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_data", job
    assert "broken.csv" in job["error"]["message"] and "0xff" in job["error"]["message"]
    assert services.registry.champion().version == 1


def test_idempotency_key_returns_the_same_job(api) -> None:
    client, services = api
    headers = {**token("train"), "Idempotency-Key": "abc-123"}
    first = client.post("/train", json={}, headers=headers).json()
    second = client.post("/train", json={}, headers=headers).json()
    assert first["job_id"] == second["job_id"]
    services.dispatcher.wait()  # type: ignore[attr-defined]
    assert [k for k in services.store.list("jobs/") if k.endswith(".json")] == [
        f"jobs/{first['job_id']}.json"
    ]  # one job record, dispatched once
    other = client.post("/train", json={}, headers={**token("train"), "Idempotency-Key": "x"})
    assert other.json()["job_id"] != first["job_id"]
    services.dispatcher.wait()  # type: ignore[attr-defined]


def test_retrain_validates_records_then_trains(api) -> None:
    client, services = api
    bad = client.post(
        "/retrain",
        json={"records": [{**ROW, "sepal_width": "x", "species": "setosa"}]},
        headers=token("train"),
    )
    assert bad.status_code == 422 and "sepal_width" in bad.json()["error"]["message"]
    no_target = client.post("/retrain", json={"records": [ROW]}, headers=token("train"))
    assert no_target.status_code == 422
    assert "missing the target 'species'" in no_target.json()["error"]["message"]
    neither = client.post("/retrain", json={}, headers=token("train"))
    assert neither.status_code == 422 and "exactly one of" in neither.text
    good = client.post(
        "/retrain", json={"records": [{**ROW, "species": "setosa"}] * 5}, headers=token("train")
    )
    assert good.status_code == 202
    job = wait_for(client, good.json()["job_id"], services)
    assert job["status"] == "succeeded", job
    assert job["result"]["dataset"]["rows"] == 155


def test_a_training_jobs_result_carries_the_notes_the_cli_prints(api) -> None:
    """What training noticed in the data (here a class with one row, dropped) reaches the
    HTTP caller in the job's result, as `mlfn train` prints it."""
    client, services = api
    record = {**ROW, "species": "unheard-of"}
    accepted = client.post("/retrain", json={"records": [record]}, headers=token("train"))
    job = wait_for(client, accepted.json()["job_id"], services)
    assert job["status"] == "succeeded", job
    notes = job["result"]["notes"]
    assert any("unheard-of" in note and "has 1 row: dropped" in note for note in notes), notes


def test_promote_conflicts_and_unknown_versions(api) -> None:
    client, _ = api
    assert client.post("/models/1/promote", headers=token("admin")).status_code == 409
    missing = client.post("/models/9/promote", headers=token("admin"))
    assert missing.status_code == 404 and "has no version 9" in missing.json()["error"]["message"]


def test_models_health_ready_metrics_openapi(api) -> None:
    client, _ = api
    models = client.get("/models", headers=token("predict")).json()
    assert models["champion"] == 1 and models["versions"][0]["version"] == 1
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json()["model"]["version"] == 1
    client.post("/predict", json={"instances": [ROW, ROW]}, headers=token("predict"))
    text = client.get("/metrics").text
    assert 'mlfn_predicted_rows_total{model="iris",version="1"} 2.0' in text
    assert (
        'mlfn_requests_total{code="",method="POST",route="/predict",status="200",version="1"} 1.0'
        in text
    )
    assert 'mlfn_model_loaded{model="iris"} 1.0' in text
    assert 'mlfn_champion_version{model="iris"} 1.0' in text
    openapi = client.get("/openapi.json").json()
    assert set(openapi["paths"]) >= {"/predict", "/train", "/retrain", "/jobs/{job_id}"}
    assert openapi["components"]["securitySchemes"]["bearerJWT"]["scheme"] == "bearer"
    assert openapi["paths"]["/predict"]["post"]["security"] == [{"bearerJWT": []}]
    assert "security" not in openapi["paths"]["/health"]["get"]
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"


def test_ready_is_503_without_a_champion(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    services = Services(settings, store, LocalDispatcher(settings, store))
    client = TestClient(create_app(services))
    answer = client.get("/ready")
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "model_unavailable"


def test_no_secret_means_every_protected_route_refuses(api, monkeypatch) -> None:
    client, services = api
    services.auth = Authenticator(AuthSettings(None, None, "mlfn", "mlfn-api"))
    answer = client.post("/predict", json={"instances": [ROW]}, headers=token("predict"))
    assert answer.status_code == 401 and "not configured" in answer.json()["error"]["message"]


def test_body_and_row_limits(api) -> None:
    client, services = api
    huge = b'{"instances": [' + b'{"a": "' + b"x" * (6 * 2**20) + b'"}]}'
    answer = client.post(
        "/predict", content=huge, headers={**token("predict"), "content-type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"
    services.max_rows = 3
    many = client.post("/predict", json={"instances": [ROW] * 4}, headers=token("predict"))
    assert many.status_code == 413 and "4 rows is over the limit of 3" in many.text


def test_the_token_never_reaches_the_logs(api, caplog: pytest.LogCaptureFixture) -> None:
    client, _ = api
    headers = token("predict")
    with caplog.at_level("DEBUG"):
        client.post("/predict", json={"instances": [ROW]}, headers=headers)
        client.post("/predict", json={"instances": "x"}, headers=headers)
    secret_part = headers["Authorization"].split()[1]
    assert secret_part not in caplog.text and secret_part not in json.dumps(
        [r.__dict__ for r in caplog.records], default=str
    )


def test_api_predict_path_imports_no_heavy_library(api) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    _, services = api
    script = f"""
import json, sys
from fastapi.testclient import TestClient
from core.api import Services, create_app
from core.auth import Authenticator, AuthSettings, mint_token
from core.config import load_settings
from core.storage import open_store
settings = load_settings({str(services.settings.config_path)!r}, env="dev")
store = open_store(settings.store_uri)
services = Services(settings, store, dispatcher=None,
                    auth=Authenticator(AuthSettings({SECRET!r}, None, "mlfn", "mlfn-api")))
client = TestClient(create_app(services))
answer = client.post("/predict", json={{"instances": [{ROW!r}]}},
                     headers={{"Authorization": "Bearer " + mint_token({SECRET!r}, ["predict"])}})
heavy = sorted(m for m in ["sklearn", "torch", "pandas", "skops", "mlflow", "scipy"]
               if m in sys.modules)
print(json.dumps({{"status": answer.status_code, "heavy": heavy}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"status": 200, "heavy": []}


def test_a_body_without_content_type_is_json(api) -> None:
    client, _ = api
    request = client.build_request(
        "POST",
        "/predict",
        headers=token("predict"),
        content=json.dumps({"instances": [ROW]}).encode(),
    )
    assert "content-type" not in request.headers  # as API Gateway forwards a bare body
    answer = client.send(request)
    assert answer.status_code == 200 and answer.json()["predictions"] == ["setosa"]


@pytest.mark.parametrize(
    "path", ["/predict", "/models/iris/predict", "/train", "/feedback", "/models/rollback"]
)
@pytest.mark.parametrize(
    "kind", ["application/x-www-form-urlencoded", "text/plain; charset=utf-8", "text/csv"]
)
def test_a_body_declared_as_not_json_is_415_saying_what_to_send(api, path, kind) -> None:
    """`curl -d` without -H declares form data: named, with the header to send instead."""
    client, _ = api
    headers = {**token("predict", "train", "feedback", "promote"), "content-type": kind}
    answer = client.post(path, content=json.dumps({"instances": [ROW]}), headers=headers)
    assert answer.status_code == 415, answer.text
    error = answer.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert repr(kind.split(";")[0]) in error["message"]
    assert "Content-Type: application/json" in error["message"]
    template = path.replace("/iris/", "/{model}/")
    documented = client.get("/openapi.json").json()["paths"][template]["post"]["responses"]
    assert "415" in documented


UNREADABLE = {
    "not UTF-8": (b'{"instances": [{"sepal_length": "\xff\xfe"}]}', "the body is not UTF-8 text"),
    "too deep": (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nests JSON arrays or objects"),
    "lone surrogate": (
        b'{"instances": [{"sepal_length": "\\ud800"}]}',
        "'\\\\ud800', which is not Unicode",
    ),
    "lone surrogate key": (
        b'{"params": {"random_forest": {"\\udfff": 1}}}',
        "'\\\\udfff', which is not Unicode",
    ),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/predict", 422),
        ("/train", 422),
        ("/feedback", 422),
        ("/models/iris/predict", 422),
        ("/invocations", 400),
        ("/v2/models/iris/infer", 400),
    ],
)
def test_a_body_that_cannot_be_read_says_why(api, case: str, path: str, status: int) -> None:
    """Bytes that are not UTF-8, or JSON nested deeper than the reader recurses, are the
    caller's mistake named (not FastAPI's "There was an error parsing the body", nor a 500
    on the protocol routes)."""
    client, _ = api
    body, expected = UNREADABLE[case]
    headers = {**token("predict", "train", "feedback"), "content-type": "application/json"}
    answer = client.post(path, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert expected in answer.text and "error parsing" not in answer.text


@pytest.mark.parametrize("door", [False, True], ids=["serve", "door"])
def test_a_route_without_a_body_ignores_one_of_any_type(api, door: bool) -> None:
    """`curl -X POST -d x .../cancel` (a body declared as form data) to a route that reads no
    body is answered as if it had none, not refused with 415; so is a path no route answers
    (404, as without a body)."""
    from core.api.door import door_app

    client, services = api
    if door:
        client = TestClient(door_app(services), raise_server_exceptions=False)
    headers = {**token("train", "promote"), "content-type": "application/x-www-form-urlencoded"}
    cancelled = client.post("/jobs/no-such-job/cancel", content=b"x=1", headers=headers)
    assert cancelled.status_code == 404 and cancelled.json()["error"]["code"] == "not_found"
    promoted = client.post("/models/1/promote", content=b"force=1", headers=headers)
    assert promoted.status_code != 415, promoted.text
    assert client.post("/nowhere", content=b"x=1", headers=headers).status_code == 404
    refused = client.post("/train", content=b"x=1", headers=headers)  # a route that reads one
    assert refused.status_code == 415
    predict = client.post("/predict", content=b"x=1", headers={**headers, **token("predict")})
    assert predict.status_code == 415


@pytest.mark.parametrize("kind", ["application/json; charset=utf-8", "application/merge+json"])
def test_json_and_json_based_types_are_read(api, kind) -> None:
    client, _ = api
    headers = {**token("predict"), "content-type": kind}
    answer = client.post("/predict", content=json.dumps({"instances": [ROW]}), headers=headers)
    assert answer.status_code == 200 and answer.json()["predictions"] == ["setosa"]


def test_the_token_is_checked_before_the_content_type(api) -> None:
    client, _ = api
    answer = client.post("/predict", content=b"a=1", headers={"content-type": "text/plain"})
    assert answer.status_code == 401


def test_warm_small_predictions_stay_on_the_event_loop(api, monkeypatch) -> None:
    """A warm one-row /predict runs on the event loop (no thread-pool hop); loading the model,
    big batches and a prediction-log flush (store I/O) go to the thread pool."""
    import threading

    from core.api import dataplane
    from core.logs import PredictionLog

    client, services = api
    threads: list[str] = []
    real_predict = services.predictor.predict

    def recording(*args):
        threads.append(threading.current_thread().name)
        return real_predict(*args)

    monkeypatch.setattr(services.predictor, "predict", recording)
    monkeypatch.setattr(dataplane, "INLINE_PREDICT_ROWS", 3)
    loop_thread = []

    async def where() -> None:
        loop_thread.append(threading.current_thread().name)

    client.portal.call(where)  # the thread the app's event loop runs in

    def post(rows: int) -> None:
        answer = client.post("/predict", json={"instances": [ROW] * rows}, headers=token("predict"))
        assert answer.status_code == 200, answer.text

    post(1)  # cold: the champion is read from the store
    post(1)
    post(3)
    post(4)  # over INLINE_PREDICT_ROWS
    services.predictor.log = PredictionLog(services.store, batch_size=2)
    post(1)  # buffered
    post(1)  # this one writes the batch
    on_loop = [name == loop_thread[0] for name in threads]
    assert on_loop == [False, True, True, False, True, False]
    assert len(services.store.list("logs/predictions/")) == 1


def test_serve_banner_names_the_url_auth_mode_and_champion(api) -> None:
    from core.auth import Authenticator, AuthSettings
    from core.cli import serve_banner

    _, services = api
    banner = serve_banner(services, "127.0.0.1", 8000)
    assert "http://127.0.0.1:8000" in banner and "/docs" in banner
    assert "champion v1" in banner and "HS256" in banner
    services.auth = Authenticator(AuthSettings(None, None, "mlfn", "mlfn-api"))
    assert "WARNING: no key configured" in serve_banner(services, "127.0.0.1", 8000)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/predict", "{bad json", "the body is not valid JSON; send a JSON object"),
        (
            "/train",
            '{"model_type": "svm"}',
            "model_type: 'svm' is not one of 'logistic_regression'",
        ),
        ("/train", "[]", "the body: expected a JSON object"),
    ],
)
def test_validation_errors_are_plain_sentences(api, path: str, body: str, message: str) -> None:
    client, _ = api
    headers = {**token("predict", "train"), "Content-Type": "application/json"}
    answer = client.post(path, content=body, headers=headers)
    assert answer.status_code == 422 and message in answer.json()["error"]["message"]
    assert "literal[" not in answer.text and "Extra inputs" not in answer.text


@pytest.mark.parametrize(
    ("body", "message", "points"),
    [
        # a union's "not a list" beside the real point is noise
        ('{"model_type": "svm"}', "model_type: 'svm' is not one of 'logistic_regression', ", 1),
        ('{"model_type": ["svm"]}', "model_type.0: 'svm' is not one of 'logistic_regression', ", 1),
        # parameters given flat, not under their model type: the key named, and the fix
        (
            '{"params": {"n_estimators": 5}}',
            "params: key 'n_estimators' is not one of 'logistic_regression', ",
            2,  # the sentence, then how to write it
        ),
        # neither member fits: both say so, in words
        ('{"model_type": {"a": 1}}', "model_type: {'a': 1} is not one of 'logistic_regression'", 2),
    ],
)
def test_a_validation_error_makes_one_point(api, body: str, message: str, points: int) -> None:
    client, _ = api
    headers = {**token("train"), "Content-Type": "application/json"}
    said = client.post("/train", content=body, headers=headers).json()["error"]["message"]
    assert said.startswith(message), said
    assert "valid list" not in said and "valid dictionary" not in said and "[key]" not in said
    assert len(said.split("; ")) == points, said
    if "n_estimators" in body:
        assert said.endswith('{"params": {"random_forest": {"n_estimators": 200}}}')
        assert "params.n_estimators" not in said  # its value's complaint is beside the point
