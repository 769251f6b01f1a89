"""POST /predict's framework-free path answers exactly what its FastAPI route answers: the
same status, body (but the prediction ids, new each call) and headers, for well-formed
bodies and for every kind of bad one; and it is the path that runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.api import Services, create_app, fastpath
from core.featurespec import SplitRows, row_dicts
from core.inference import rows_from_body
from core.training.run import train
from tests.conftest import project_settings
from tests.unit.test_api import ROW, local_services, token

SPLIT = {"columns": list(ROW), "data": [list(ROW.values())]}
BODIES: list[Any] = [
    {"instances": [ROW]},
    {"instances": [ROW, {**ROW, "petal_length": 5.0, "petal_width": 2}]},
    {"dataframe_records": [ROW] * 3},
    {"dataframe_split": SPLIT},
    {"dataframe_split": {**SPLIT, "index": [7]}},
    {"dataframe_split": {**SPLIT, "index": None}},
    {"instances": []},
    {"instances": [{**ROW, "sepal_width": None}]},
    {"instances": [{**ROW, "extra": "ignored?"}]},
    {"instances": [{**ROW, "sepal_width": "wide"}]},
    {"instances": [{**ROW, "sepal_width": True}]},
    {"instances": [{"sepal_length": 1}]},
    {"instances": [ROW], "dataframe_records": [ROW]},
    {"instances": [ROW], "dataframe_split": None},
    {"instances": None},
    {"rows": [ROW]},
    {"instances": "x"},
    {"instances": [1]},
    {"instances": [[1, 2, 3, 4]]},
    {"dataframe_split": {"columns": [1, 2], "data": [[1, 2]]}},
    {"dataframe_split": {"columns": list(ROW), "data": [1]}},
    {"dataframe_split": {"columns": list(ROW), "data": [[1, 2]]}},
    {"dataframe_split": {**SPLIT, "index": "a"}},
    {"dataframe_split": {**SPLIT, "extra": 1}},
    {"dataframe_split": [ROW]},
    {},
    [ROW],
    "text",
    3,
    None,
]
RAW_BODIES = [b"", b"{", b"NaN", b'{"instances": [{"sepal_length": NaN}]}', b"\xff\xfe"]


@pytest.fixture(scope="module")
def twin_clients(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, TestClient, Services]]:
    """The same services behind the app with and without the fast path."""
    settings, store = project_settings(tmp_path_factory.mktemp("fastpath"))
    train(settings, store)
    services = local_services(settings, store)
    fast = TestClient(create_app(services), raise_server_exceptions=False)
    slow = TestClient(create_app(services, fast_predict=False), raise_server_exceptions=False)
    with fast, slow:
        yield fast, slow, services


def _seen(answer: Any) -> tuple[int, Any, dict[str, str]]:
    body = answer.json()
    if isinstance(body, dict):
        body.pop("prediction_ids", None)
    headers = {k: v for k, v in answer.headers.items() if k not in {"x-request-id"}}
    return answer.status_code, body, headers


def _post(client: TestClient, content: bytes, **headers: str) -> Any:
    return client.post("/predict", content=content, headers={**token("predict"), **headers})


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_the_fast_path_answers_as_the_route_does(twin_clients, body: Any) -> None:
    import json

    fast, slow, _ = twin_clients
    content = json.dumps(body).encode()
    kind = {"content-type": "application/json"}
    assert _seen(_post(fast, content, **kind)) == _seen(_post(slow, content, **kind))


@pytest.mark.parametrize("content", RAW_BODIES)
@pytest.mark.parametrize(
    "kind", ["application/json", "text/plain", "application/json; charset=utf-8", None]
)
def test_raw_bodies_and_content_types_answer_alike(twin_clients, content: bytes, kind) -> None:
    fast, slow, _ = twin_clients
    headers = {"content-type": kind} if kind else {}
    assert _seen(_post(fast, content, **headers)) == _seen(_post(slow, content, **headers))


def test_scopes_and_limits_answer_alike(twin_clients, monkeypatch) -> None:
    fast, slow, services = twin_clients
    good = b'{"instances": [%s]}' % ",".join(["{}"] * 3).encode()
    for client in (fast, slow):  # the model loaded in both, so both are warm alike
        assert (
            client.post("/predict", json={"instances": [ROW]}, headers=token("predict")).status_code
            == 200
        )
    cases = [
        ({**token("train")}, good),  # 403: the wrong scope
        ({"Authorization": "Bearer nope"}, good),  # 401
        ({}, good),  # 401: no token
    ]
    for headers, content in cases:
        a = fast.post("/predict", content=content, headers=headers)
        b = slow.post("/predict", content=content, headers=headers)
        assert _seen(a) == _seen(b) and a.status_code in {401, 403}
    monkeypatch.setattr(services, "max_rows", 2)
    body = {"instances": [ROW] * 3}
    assert _seen(fast.post("/predict", json=body, headers=token("predict"))) == _seen(
        slow.post("/predict", json=body, headers=token("predict"))
    )


def test_the_fast_path_is_the_one_that_answers(twin_clients, monkeypatch) -> None:
    """Not the route: a clean body never reaches FastAPI's body model."""
    fast, _, _ = twin_clients
    calls: list[Any] = []
    real = fastpath.score_rows

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastpath, "score_rows", counted)
    answer = fast.post("/predict", json={"instances": [ROW]}, headers=token("predict"))
    assert answer.status_code == 200 and answer.headers["x-mlfn-model-version"] == "1"
    assert len(calls) == 1
    fast.post("/predict", json={"rows": [ROW]}, headers=token("predict"))  # the route's 422
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("parsed", "clean"),
    [
        ({"instances": [ROW]}, {"instances": [ROW]}),
        ({"dataframe_split": {**SPLIT, "index": None}}, {"dataframe_split": SPLIT}),
        ({"dataframe_split": {**SPLIT, "index": [7]}}, {"dataframe_split": SPLIT}),
        ({"dataframe_records": []}, {"dataframe_records": []}),
        ({"instances": [ROW], "dataframe_split": None}, None),
        ({"dataframe_records": [ROW, 1]}, None),
        ({"dataframe_split": {"columns": ["a", 1], "data": []}}, None),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3]]}}, None),
        ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2, 3]]}}, None),
    ],
)
def test_clean_rows_take_only_what_the_model_would_pass_unchanged(parsed, clean) -> None:
    """A clean body's rows are the route's rows (`rows_from_body`) of what its body model
    passes on; anything else is left to the route (None)."""
    expected = None if clean is None else rows_from_body(clean)
    assert row_dicts(fastpath.clean_rows(parsed)) == expected


def test_a_clean_split_is_kept_as_sent() -> None:
    """No row object per row on the fast path: encoding reads the split's data itself."""
    rows = fastpath.clean_rows({"dataframe_split": SPLIT})
    assert isinstance(rows, SplitRows)
    assert rows.columns is SPLIT["columns"] and rows.data is SPLIT["data"]
