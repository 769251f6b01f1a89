"""Several models per deployment: every model in the store by name (`NAME`, its routing;
`NAME@VERSION`, that version) through /models/{model}/predict and the OIP routes, loaded on
first use and kept in a least-recently-used cache bounded by MLFN_MODEL_CACHE_MB."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core import inference
from core.api.app import Services, create_app
from core.errors import ConfigError, ValidationError
from core.model_cache import SessionCache, cache_budget_bytes, graph_runner
from core.model_pool import ModelRef, model_names, parse_model_ref
from core.training.run import train
from tests.conftest import project_settings
from tests.unit.test_api import ROW, local_services, token

ROWS = [ROW, {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    """One store with `iris` (the deployment's own: two versions) and `flowers` (a random
    forest only, one version)."""
    import os

    os.environ["MLFN_TRACKING"] = "off"
    root = tmp_path_factory.mktemp("pool")
    settings, store = project_settings(root)
    train(settings, store)
    train(settings, store, force=True)  # version 2: not better, so not the champion
    other, _ = project_settings(root / "flowers", model_name="flowers",
                                model_type=["random_forest"])  # fmt: skip
    train(other, store)
    return settings, store


@pytest.fixture
def client(two_models: tuple[Any, Any]) -> Iterator[tuple[TestClient, Services]]:
    services = local_services(*two_models)
    with TestClient(create_app(services), raise_server_exceptions=False) as test_client:
        yield test_client, services


def _predict(client: TestClient, path: str, **headers: str) -> Any:
    return client.post(path, json={"instances": ROWS}, headers={**token("predict"), **headers})


def test_every_model_in_the_store_is_served_by_name(client: Any, two_models: Any) -> None:
    http, _ = client
    _, store = two_models
    assert model_names(store) == ["flowers", "iris"]
    default = _predict(http, "/predict").json()
    assert _predict(http, "/models/iris/predict").json()["predictions"] == default["predictions"]
    flowers = _predict(http, "/models/flowers/predict")
    assert flowers.status_code == 200, flowers.text
    assert flowers.json()["model"] == {"name": "flowers", "version": 1}
    assert flowers.headers["X-Mlfn-Model-Version"] == "1"
    direct = inference.Predictor(store, "flowers").predict(ROWS)
    assert flowers.json()["probabilities"] == direct["probabilities"]
    assert _predict(http, "/predict").json()["model"]["name"] == "iris"  # still the default


def test_a_pinned_version_answers_whatever_the_routing_says(client: Any, two_models: Any) -> None:
    http, _ = client
    _, store = two_models
    versions = inference.Predictor(store, "iris").registry.versions()
    assert versions == [1, 2]
    for version in versions:
        found = _predict(http, f"/models/iris@{version}/predict")
        assert found.status_code == 200, found.text
        assert found.json()["model"] == {"name": "iris", "version": version}
    pinned = _predict(http, "/models/flowers@1/predict").json()
    assert pinned["model"] == {"name": "flowers", "version": 1}


def test_oip_serves_every_model_too(client: Any) -> None:
    http, _ = client
    tensor = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64",
                          "data": [v for row in ROWS for v in row.values()]}]}  # fmt: skip
    for path in ("/v2/models/flowers/infer", "/v2/models/flowers/versions/1/infer"):
        found = http.post(path, json=tensor, headers=token("predict"))
        assert found.status_code == 200, found.text
        assert found.json()["model_name"] == "flowers" and found.json()["model_version"] == "1"
    meta = http.get("/v2/models/flowers", headers=token("predict")).json()
    assert meta["name"] == "flowers" and meta["versions"] == ["1"]
    assert http.get("/v2/models/flowers/ready", headers=token("predict")).json()["ready"]


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/models/tulips/predict", 404, "models there: flowers, iris"),
        ("/models/flowers@9/predict", 404, "no version 9"),
        ("/models/Flowers/predict", 422, "NAME or NAME@VERSION"),
        ("/models/flowers@latest/predict", 422, "positive whole number"),  # the schema says
        ("/models/..%2F..%2Fetc/predict", 404, "not_found"),  # no such route
        ("/models/..@1/predict", 422, "NAME or NAME@VERSION"),
        ("/v2/models/tulips/infer", 404, "models there: flowers, iris"),
    ],
)
def test_unknown_or_malformed_models_are_refused_clearly(
    client: Any, path: str, status: int, words: str
) -> None:
    http, _ = client
    body = (
        {"instances": ROWS}
        if not path.startswith("/v2")
        else {
            "inputs": [
                {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": list(ROW.values())}
            ]
        }
    )
    found = http.post(path, json=body, headers=token("predict"))
    assert found.status_code == status, found.text
    assert words in found.text


def test_named_models_need_the_predict_scope(client: Any) -> None:
    http, _ = client
    body = {"instances": ROWS}
    assert http.post("/models/flowers/predict", json=body).status_code == 401
    refused = http.post("/models/flowers/predict", json=body, headers=token("train"))
    assert refused.status_code == 403


def test_the_cache_keeps_the_most_recently_used_models_within_budget(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, _ = client
    monkeypatch.setenv("MLFN_MODEL_CACHE_MB", "0.001")  # smaller than any graph: one at a time
    first = _predict(http, "/models/flowers/predict").json()
    assert [key[1] for key in inference._SESSIONS.loaded()] == ["flowers"]
    _predict(http, "/predict")
    assert [key[1] for key in inference._SESSIONS.loaded()] == ["iris"]  # flowers dropped
    again = _predict(http, "/models/flowers/predict").json()  # loaded again, same answers
    assert again["probabilities"] == first["probabilities"]
    assert [key[1] for key in inference._SESSIONS.loaded()] == ["flowers"]
    monkeypatch.setenv("MLFN_MODEL_CACHE_MB", "512")
    _predict(http, "/predict")
    assert sorted(key[1] for key in inference._SESSIONS.loaded()) == ["flowers", "iris"]


def test_session_cache_evicts_least_recently_used_first() -> None:
    cache: SessionCache[str] = SessionCache(budget=lambda: 100)
    a, b, c = ("s", "a", 1), ("s", "b", 1), ("s", "c", 1)
    cache.put(a, "A", 40)
    cache.put(b, "B", 40)
    assert cache.get(a) == "A"  # a is now the most recent
    assert cache.put(c, "C", 40) == [b]
    assert cache.loaded() == [a, c] and cache.used_bytes() == 80
    assert cache.put(("s", "huge", 1), "H", 500) == [a, c]  # alone over budget: still kept
    assert cache.evictions == 3


def test_cache_budget_and_references_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFN_MODEL_CACHE_MB", "lots")
    with pytest.raises(ConfigError, match="MLFN_MODEL_CACHE_MB must be a positive number"):
        cache_budget_bytes()
    monkeypatch.setenv("MLFN_MODEL_CACHE_MB", "1.5")
    assert cache_budget_bytes() == int(1.5 * 1024 * 1024)
    assert parse_model_ref("iris@12") == ModelRef("iris", 12)
    assert str(parse_model_ref("iris")) == "iris"
    with pytest.raises(ValidationError, match="NAME or NAME@VERSION"):
        parse_model_ref("../models")
    assert str(ModelRef("a", 2)) == "a@2"


def test_a_graph_runner_falls_back_to_the_public_run_of_another_wrapper() -> None:
    """A session object without ONNX Runtime's inner binding is run through its own `run`,
    asked for the chosen outputs only."""

    class Wrapped:
        def __init__(self) -> None:
            self.calls: list[tuple[list[str], dict[str, Any]]] = []

        def run(self, names: list[str], feeds: dict[str, Any]) -> list[Any]:
            self.calls.append((names, feeds))
            return [f"{name}-value" for name in names]

    session = Wrapped()
    run = graph_runner(session, ("probability_0", "probability_1"))
    assert run({"x": 1}) == ["probability_0-value", "probability_1-value"]
    assert session.calls == [(["probability_0", "probability_1"], {"x": 1})]


def test_a_graph_runner_uses_the_public_run_when_the_inner_binding_refuses_the_call() -> None:
    """Another ONNX Runtime release whose private binding takes other arguments: the public
    `run` answers, for the chosen outputs."""

    class Binding:
        def run(self, names: list[str], feeds: dict[str, Any]) -> list[Any]:  # no run_options
            raise AssertionError("not reached: called with three arguments")

    class Session:
        _sess = Binding()

        def run(self, names: list[str], feeds: dict[str, Any]) -> list[Any]:
            return [f"{name}={feeds['x']}" for name in names]

    run = graph_runner(Session(), ["variable"])
    assert run({"x": 2}) == ["variable=2"]


def test_holding_is_a_look_and_leaves_the_order_of_use_alone() -> None:
    """`holds` (the warm check before each /predict) never makes an entry the most recently
    used: the next one over budget still drops the entry used least."""
    cache: SessionCache[str] = SessionCache(budget=lambda: 2)
    cache.put(("s", "m", 1), "one", 1)
    cache.put(("s", "m", 2), "two", 1)
    assert cache.holds(("s", "m", 1)) and not cache.holds(("s", "m", 3))
    assert cache.put(("s", "m", 3), "three", 1) == [("s", "m", 1)]  # 1 was used least
    assert ("s", "m", 2) in cache  # a use: 2 is now the most recent
    assert cache.put(("s", "m", 4), "four", 1) == [("s", "m", 3)]


def test_a_loaded_model_is_served_while_another_loads() -> None:
    """A loader holds the cache's lock while it reads the store (seconds, for a big model);
    a warm predict's lookup on the event loop must not wait for it."""
    cache: SessionCache[str] = SessionCache(budget=lambda: 10)
    cache.put(("s", "m", 1), "one", 1)
    loading, release = threading.Event(), threading.Event()

    def loader() -> None:
        with cache.lock:  # as _load does, around the store's read
            loading.set()
            release.wait(10)
            cache.put(("s", "m", 2), "two", 1)

    thread = threading.Thread(target=loader)
    thread.start()
    try:
        assert loading.wait(10)
        found: list[str | None] = []
        looker = threading.Thread(target=lambda: found.append(cache.get(("s", "m", 1))))
        looker.start()
        looker.join(5)
        assert found == ["one"]  # answered while the loader still held the lock
        assert cache.used_bytes() == 1 and cache.loaded() == [("s", "m", 1)]
    finally:
        release.set()
        thread.join(10)
    assert cache.loaded() == [("s", "m", 1), ("s", "m", 2)]


def test_lookups_while_a_load_evicts_break_nothing() -> None:
    """Lookups take no lock and move entries while a loader evicts: eviction reads a
    snapshot, so it never fails with "mutated during iteration" and keeps to the budget."""
    cache: SessionCache[int] = SessionCache(budget=lambda: 3)
    errors: list[str] = []
    until = time.monotonic() + 2

    def load() -> None:
        number = 0
        while time.monotonic() < until:
            try:
                cache.put(("s", "m", number % 50), number, 1)
            except Exception as exc:  # the failure this test is about
                errors.append(repr(exc))
                return
            number += 1

    def look() -> None:
        while time.monotonic() < until:
            for number in range(50):
                cache.get(("s", "m", number))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can
    try:
        threads = [threading.Thread(target=job) for job in (load, look, look)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert cache.used_bytes() <= 3


def test_a_graph_runner_hands_the_binding_run_options_never_none() -> None:
    """The inner binding gets one RunOptions, the same on every call: with None it looks
    for attributes that are not there, an exception made and dropped on every run."""
    import onnxruntime as ort

    seen: list[Any] = []

    class Binding:
        def run(self, names: list[str], feeds: dict[str, Any], options: Any) -> list[Any]:
            seen.append(options)
            return [feeds["x"] for _ in names]

    class Session:
        _sess = Binding()

    run = graph_runner(Session(), ["variable"])
    assert run({"x": 3}) == [3] and run({"x": 4}) == [4]
    assert isinstance(seen[0], ort.RunOptions) and seen[0] is seen[1]


def test_onnx_runtimes_own_binding_takes_the_run_options() -> None:
    """A real session: its inner binding accepts the RunOptions and answers (a refusal would
    fall back to the public `run` unseen, each run paying its checks again)."""
    import numpy as np
    from onnx import TensorProto, helper

    from core.model_cache import new_session

    tensor = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "identity",
        [tensor("x", TensorProto.FLOAT, [None])], [tensor("y", TensorProto.FLOAT, [None])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    real = new_session(model.SerializeToString())

    class InnerOnly:  # the real binding; the public run must not be reached
        _sess = real._sess

        def run(self, names: list[str], feeds: dict[str, Any]) -> list[Any]:
            raise AssertionError("the inner binding refused the call")

    run = graph_runner(InnerOnly(), ["y"])
    (answer,) = run({"x": np.array([1.5, -2.0], dtype=np.float32)})
    assert answer.tolist() == [1.5, -2.0]
