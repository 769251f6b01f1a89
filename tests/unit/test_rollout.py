"""Champion and challenger through the HTTP API on a local store: a sticky canary share,
shadow scoring, rollback by hand, and the automatic rollout stepping a healthy challenger up
to promotion and rolling back a failing or worse one — each change in the audit trail."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.api import Services, create_app
from core.config import load_settings
from core.errors import ConfigError
from core.inference import clear_cache
from core.registry import ModelRegistry
from core.rollout.auto import rollout_step
from core.routing import assigned, read_history
from core.storage import open_store
from core.training.run import train
from tests.conftest import EXAMPLES, make_project
from tests.unit.test_api import ROW, local_services, token

WEAK = {"logistic_regression": {"C": 0.001, "max_iter": 5}}
ROLLOUT = {"steps": [5, 25, 50, 100], "min_requests": 20, "max_error_rate": 0.05}
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS = pd.read_csv(EXAMPLES / "iris" / "iris.csv").set_axis([*FEATURES, "species"], axis=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1: a weak logistic regression; v2: the example's models, better, so the champion."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFN_TRACKING", "off")
        folder = tmp_path_factory.mktemp("rollout")
        config = make_project(folder, rollout=ROLLOUT, model_type=["random_forest"],
                              training_params={"random_forest": {"n_estimators": 10}})  # fmt: skip
        settings = load_settings(config, "dev")
        store = open_store(settings.store_uri)
        train(settings, store, model_types=["logistic_regression"], params=WEAK)
        assert train(settings, store)["promoted"]
    return folder


@pytest.fixture
def served(trained: Path, tmp_path: Path) -> Iterator[tuple[TestClient, Services]]:
    folder = tmp_path / "project"
    shutil.copytree(trained, folder)
    config = json.loads((folder / "config.json").read_text())
    config["promotion"]["dev"]["store"] = f"file://{folder / 'store'}"
    config["promotion"]["qa"]["store"] = f"file://{folder / 'store-qa'}"
    (folder / "config.json").write_text(json.dumps(config))
    settings = load_settings(folder / "config.json", "dev")
    services = local_services(settings, open_store(settings.store_uri))
    app = create_app(services)
    app.state.services_for_tests = services
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, services


def _predict(client: TestClient, key: str, rows: list[dict[str, Any]] | None = None) -> Any:
    headers = {**token("predict"), "X-Mlfn-Routing-Key": key}
    answer = client.post("/predict", json={"instances": rows or [ROW]}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Mlfn-Model-Version"] == str(answer.json()["model"]["version"])
    return answer.json()


def _admin(client: TestClient, path: str, body: Any = None) -> Any:
    answer = client.post(path, json=body, headers=token("admin", subject="alice"))
    services = client.app.state.services_for_tests  # type: ignore[attr-defined]
    services.predictor._checked_at = float("-inf")  # re-read the routing on the next call
    return answer


def _row(i: int) -> int:
    return (i * 37) % len(IRIS)  # every class, not the first rows' one


def _traffic(client: TestClient, services: Services, prefix: str, count: int) -> list[Any]:
    """`count` one-row requests: over HTTP, or straight to the predictor when many."""
    rows = IRIS[FEATURES].to_dict(orient="records")
    if count > 100:
        predict = services.predictor.predict
        answers = [predict([rows[_row(i)]], None, f"{prefix}-{i}") for i in range(count)]
    else:
        answers = [_predict(client, f"{prefix}-{i}", [rows[_row(i)]]) for i in range(count)]
    services.predictor.log.flush()  # type: ignore[union-attr]
    return answers


def test_a_canary_share_is_sticky_and_every_answer_says_its_version(served: Any) -> None:
    client, services = served
    assert _admin(client, "/models/1/canary", {"weight": 10}).status_code == 200
    keys = [f"caller-{i}" for i in range(2000)]
    served_by = {k: services.predictor.predict([ROW], None, k)["model"]["version"] for k in keys}
    share = sum(v == 1 for v in served_by.values()) / len(keys)
    assert 0.08 <= share <= 0.12, share
    assert all((served_by[k] == 1) == assigned("iris", k, 10) for k in keys)
    over_http = {key: _predict(client, key)["model"]["version"] for key in keys[:200]}
    assert all(over_http[key] == served_by[key] for key in over_http)  # same key, same version
    # a raised weight keeps everyone already on the challenger there (sticky through steps)
    assert _admin(client, "/models/1/canary", {"weight": 50}).status_code == 200
    assert all(_predict(client, k)["model"]["version"] == 1 for k in keys if served_by[k] == 1)


def test_the_token_subject_routes_when_no_key_is_sent(served: Any) -> None:
    client, _ = served
    _admin(client, "/models/1/canary", {"weight": 50})
    for subject in (f"user-{i}" for i in range(40)):
        answer = client.post("/predict", json={"instances": [ROW]},
                             headers=token("predict", subject=subject))  # fmt: skip
        assert answer.json()["model"]["version"] == (1 if assigned("iris", subject, 50) else 2)


def _metric(client: TestClient, name: str, version: int) -> float:
    text = client.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and f'version="{version}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_shadow_never_answers_and_both_versions_are_measured(served: Any) -> None:
    client, services = served
    assert _admin(client, "/models/1/shadow", {}).json()["to"]["challenger"]["mode"] == "shadow"
    before = _metric(client, "mlfn_predicted_rows_total", 1)
    answers = _traffic(client, services, "shadowed", 40)
    assert {a["model"]["version"] for a in answers} == {2}
    assert _metric(client, "mlfn_predicted_rows_total", 1) == before + 40  # the shadow scored
    labels = [{"prediction_id": a["prediction_ids"][0], "label": IRIS["species"][_row(i)]}
              for i, a in enumerate(answers)]  # fmt: skip
    headers = token("feedback")
    assert client.post("/feedback", json={"feedback": labels}, headers=headers).status_code == 200
    report = rollout_step(services.settings, services.store)
    shadow, champion = report["live"]["1"], report["live"]["2"]
    assert shadow["requests"] == champion["requests"] == 40
    assert shadow["roles"] == {"shadow": 40} and shadow["labels"] == champion["labels"] == 40
    assert champion["metrics"]["accuracy"] > shadow["metrics"]["accuracy"]
    assert report["outcome"] == "rollback" and "live f1_macro" in report["reason"]  # primary
    live = client.get("/models/1/live", headers=token("predict")).json()
    assert live["traffic"]["requests"] == 40 and live["traffic"]["latency_ms"]["p50"] > 0


def test_a_failing_challenger_is_rolled_back_and_callers_never_see_it(served: Any) -> None:
    client, services = served
    services.store.write_bytes("models/iris/versions/1/model.onnx", b"not a graph")
    clear_cache()
    _admin(client, "/models/1/canary", {"weight": 50})
    answers = _traffic(client, services, "hurt", 60)
    assert {a["model"]["version"] for a in answers} == {2}  # the champion answered all
    assert _metric(client, "mlfn_challenger_errors_total", 1) == sum(
        assigned("iris", f"hurt-{i}", 50) for i in range(60)
    )
    report = rollout_step(services.settings, services.store)
    assert report["outcome"] == "rollback" and "error rate" in report["reason"]
    assert client.get("/models/routing", headers=token("admin")).json()["challenger"] is None
    last = read_history(services.store, "iris")[-1]
    assert last["action"] == "auto-rollback" and last["by"] == "scheduler"
    routed = sum(assigned("iris", f"hurt-{i}", 50) for i in range(60))
    assert last["metrics"]["live"]["challenger"]["error_codes"] == {"model_unavailable": routed}


def test_a_healthy_challenger_is_stepped_up_to_100_and_promoted(served: Any) -> None:
    client, services = served
    back = _admin(client, "/models/rollback", {"reason": "weak v1 back, to roll v2 out"})
    assert back.json()["to"]["champion"] == 1
    assert _admin(client, "/models/2/canary", {"weight": 5}).status_code == 200
    outcomes, weights = [], []
    for step in range(8):
        _traffic(client, services, f"step{step}", 400)
        report = rollout_step(services.settings, services.store)
        services.predictor._checked_at = float("-inf")
        outcomes.append(report["outcome"])
        if report["outcome"] != "step":
            break
        weights.append(report["routing"]["challenger"]["weight"])
    assert weights == [25, 50, 100] and outcomes[-1] == "promote", outcomes
    routing = client.get("/models/routing", headers=token("admin")).json()
    assert routing["champion"] == 2 and routing["challenger"] is None
    history = client.get("/models/history", headers=token("admin")).json()["records"]
    actions = [(r["action"], r["by"]) for r in history]
    assert actions[-6:] == [("rollback", "alice"), ("canary", "alice"),
                            ("auto-step", "scheduler"), ("auto-step", "scheduler"),
                            ("auto-step", "scheduler"), ("auto-promote", "scheduler")]  # fmt: skip
    revisions = [r["revision"] for r in history]
    assert revisions == list(range(1, len(history) + 1))
    assert all(a["to"] == b["from"] for a, b in itertools.pairwise(history))


def test_rollout_routes_refuse_what_cannot_be_done(served: Any) -> None:
    client, _ = served
    assert _admin(client, "/models/2/canary", {"weight": 10}).status_code == 409  # champion
    assert _admin(client, "/models/9/canary", {"weight": 10}).status_code == 404
    bad = _admin(client, "/models/1/canary", {"weight": 150})
    assert bad.status_code == 422 and "weight" in bad.text
    assert _admin(client, "/models/1/canary", {}).status_code == 422
    user = client.post("/models/1/canary", json={"weight": 5}, headers=token("predict"))
    assert user.status_code == 403 and "admin" in user.text
    assert client.get("/models/history", headers=token("predict")).status_code == 403
    assert len(client.get("/models/history", headers=token("admin")).json()["records"]) == 2


def test_cli_commands_change_and_show_the_routing(served: Any, capsys: Any) -> None:
    from core.cli import main

    _, services = served
    config = str(services.settings.config_path)

    def run(*args: str) -> Any:
        main([*args, "--config", config, "--json"])
        return json.loads(capsys.readouterr().out)

    assert run("canary", "1", "--weight", "20")["to"]["challenger"]["weight"] == 20
    assert run("routing")["challenger"]["version"] == 1
    assert run("shadow", "1")["to"]["challenger"]["mode"] == "shadow"
    assert run("rollback", "--reason", "done")["reason"] == "done"
    assert [r["action"] for r in run("history")["records"]][-3:] == ["canary", "shadow", "rollback"]
    assert run("rollout", "step")["outcome"] == "none"


def test_rollout_steps_are_checked(tmp_path: Path) -> None:
    for steps in ([5, 50], [50, 5, 100], [0, 100], [5, 150]):
        config = make_project(tmp_path, rollout={"steps": steps})
        with pytest.raises(ConfigError, match="steps"):
            load_settings(config, "dev")


def test_a_store_from_before_routing_json_keeps_its_champion(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}")
    registry = ModelRegistry(store, "old")
    registry.create_version({"model.onnx": b"x"}, {})
    registry.create_version({"model.onnx": b"y"}, {})
    store.write_json("models/old/champion.json", {"version": 1, "sha256": "abc"})
    assert registry.champion().version == 1  # type: ignore[union-attr]
    registry.promote(2, registry.champion())
    assert registry.champion().version == 2  # type: ignore[union-attr]
    (record,) = read_history(store, "old")
    assert record["from"]["champion"] == 1 and record["to"]["champion"] == 2


@pytest.mark.tracking
def test_mlflow_model_versions_carry_their_roles(tmp_path: Path) -> None:
    import mlflow

    from core.rollout.actions import rollback, set_challenger
    from core.tracking import tracking_uri

    config = make_project(tmp_path, model_type=["logistic_regression"])
    settings = load_settings(config, "dev")
    store = open_store(settings.store_uri)
    train(settings, store, params=WEAK)
    assert train(settings, store)["promoted"]  # v2 beats the weak v1
    registry = ModelRegistry(store, "iris")
    set_challenger(registry, 1, 20, "canary", "alice")
    mlflow.set_tracking_uri(tracking_uri(store))
    client = mlflow.MlflowClient()

    def tags(version: int) -> dict[str, str]:
        (found,) = client.search_model_versions(
            f"name = 'iris' and tags.mlfn_version = '{version}'"
        )
        return dict(found.tags)

    assert tags(1)["mlfn_role"] == "challenger-canary" and tags(1)["mlfn_weight"] == "20.0"
    assert tags(2)["mlfn_role"] == "champion" and tags(2)["mlfn_last_action"] == "canary"
    assert client.get_model_version_by_alias("iris", "challenger").tags["mlfn_version"] == "1"
    rollback(registry, "alice")
    assert tags(1)["mlfn_role"] == "retired" and tags(1)["mlfn_last_action"] == "rollback"


@pytest.mark.parametrize("mode", ["shadow", "canary"])
def test_split_bodies_reach_a_challenger_and_the_log_by_name(served: Any, mode: str) -> None:
    """A `dataframe_split` /predict (kept as sent on the fast path) is scored by the
    challenger as by the champion, and both log lines hold the rows by name."""
    client, services = served
    body = {"weight": 100} if mode == "canary" else {}
    assert _admin(client, f"/models/1/{mode}", body).status_code == 200
    before = _metric(client, "mlfn_predicted_rows_total", 1)
    rows = IRIS[FEATURES].iloc[[0, 60, 120]]
    split = {"dataframe_split": {"columns": FEATURES, "data": rows.to_numpy().tolist()}}
    headers = {**token("predict"), "X-Mlfn-Routing-Key": "split-caller"}
    answer = client.post("/predict", json=split, headers=headers)
    assert answer.status_code == 200, answer.text
    assert _metric(client, "mlfn_predicted_rows_total", 1) == before + 3  # the challenger scored
    by_name = services.predictor.predict_version(answer.json()["model"]["version"],
                                                 rows.to_dict(orient="records"))  # fmt: skip
    assert answer.json()["probabilities"] == by_name["probabilities"]
    services.predictor.log.flush()  # type: ignore[union-attr]
    lines = [
        json.loads(line)
        for key in services.store.list("logs/predictions/")
        for line in services.store.read_bytes(key).decode().splitlines()
    ]
    logged = [line for line in lines if line["id"] == answer.json()["prediction_ids"][0][:-2]]
    assert {line.get("role", "champion") for line in logged} == (
        {"champion", "shadow"} if mode == "shadow" else {"canary"}
    )
    assert all(line["inputs"] == rows.to_dict(orient="records") for line in logged)
