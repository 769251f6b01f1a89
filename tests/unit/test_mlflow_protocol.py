"""MLflow's scoring protocol: every input shape MLflow's server takes gives the predictions
/predict gives for the same rows; errors in MLflow's shape; and MLflow's own scoring client
against `mlfn serve` over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from core.api.mlflow_codec import decode, rows_of_csv
from core.errors import ValidationError
from tests.conftest import REPO
from tests.unit.test_api import ROW, SECRET, token
from tests.unit.test_api import api as api  # the fixture

ROWS = [  # whole numbers as floats, so that the "integers" shape sends the same rows
    {"sepal_length": 5.0, "sepal_width": 3.0, "petal_length": 1.0, "petal_width": 0.0},
    {"sepal_length": 7.0, "sepal_width": 3.0, "petal_length": 6.0, "petal_width": 2.0},
    {"sepal_length": 6.0, "sepal_width": 3.0, "petal_length": 4.0, "petal_width": 1.0},
]
NAMES = list(ROW)


def _split(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    return {"columns": names, "data": [[row[n] for n in names] for row in rows]}


SHAPES = {
    "dataframe_split": {"dataframe_split": _split(ROWS, NAMES)},
    "dataframe_split_reordered": {"dataframe_split": _split(ROWS, NAMES[::-1])},
    "dataframe_records": {"dataframe_records": ROWS},
    "instances_rows": {"instances": ROWS},
    "instances_columns": {"instances": {n: [row[n] for row in ROWS] for n in NAMES}},
    "instances_tensor": {"instances": [[row[n] for n in NAMES] for row in ROWS]},
    "inputs_rows": {"inputs": ROWS},
    "inputs_columns": {"inputs": {n: [row[n] for row in ROWS] for n in NAMES}},
    "with_params": {"dataframe_records": ROWS, "params": {"anything": 1}},
    "extra_columns": {
        "dataframe_records": [{**row, "id": i, "note": "x"} for i, row in enumerate(ROWS)]
    },
    "integers": {"dataframe_records": [{k: int(v) for k, v in row.items()} for row in ROWS]},
}


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_every_shape_decodes_to_the_same_rows(shape: str) -> None:
    rows, _ = decode(json.dumps(SHAPES[shape]).encode(), "application/json", NAMES)
    kept = [{k: v for k, v in row.items() if k in NAMES} for row in rows]
    assert [{k: float(v) for k, v in row.items()} for row in kept] == [
        {k: float(v) for k, v in row.items()} for row in ROWS
    ]


def test_csv_decodes_with_numbers_and_nulls() -> None:
    text = "petal_width,sepal_length,sepal_width,petal_length\n0.2,5.1,3.5,1.4\n,6.7,3,5.2\n"
    rows = rows_of_csv(text.encode())
    assert rows[0] == {"petal_width": 0.2, "sepal_length": 5.1, "sepal_width": 3.5,
                       "petal_length": 1.4}  # fmt: skip
    assert rows[1]["petal_width"] is None and rows[1]["sepal_width"] == 3.0


def test_a_csv_body_with_a_space_after_every_comma_reads_as_without() -> None:
    """`a, b` (written for the eye): names and text as ingest reads such a file, so the
    request's columns are the model's and its categories the ones it learnt."""
    plain = 'petal_width,kind\n0.2,"red, dark"\n,blue\n'
    spaced = 'petal_width, kind\n0.2, "red, dark"\n, blue\n'
    assert rows_of_csv(spaced.encode()) == rows_of_csv(plain.encode())
    assert rows_of_csv(b"a,b\n1, x\n") == [{"a": 1.0, "b": " x"}]  # not after every comma


def test_a_lone_column_the_model_has_is_no_separator_mistake() -> None:
    assert rows_of_csv(b"a;b\n1\n", ["a;b"]) == [{"a;b": 1.0}]


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b'{"instances": [], "dataframe_records": []}', "application/json", "exactly one"),
        (b'{"rows": []}', "application/json", "exactly one"),
        (b'{"instances": {"a": [1], "b": [1, 2]}}', "application/json", "equal length"),
        (b'{"dataframe_split": {"data": [[1]]}}', "application/json", "columns"),
        (b'{"instances": [[1, 2]]}', "application/json", "list of 4 values"),
        (b'{"inputs": [1, 2]}', "application/json", "rows of different kinds"),
        (b'{"instances": [{"a": 1}], "params": 3}', "application/json", "'params'"),
        (b"a,b\n1,2", "application/xml", "not supported"),
        (b"", "text/csv", "header"),
        # a European spreadsheet's CSV: MLflow's protocol reads commas only; say so
        (b"a;b\n5,1;2\n", "text/csv", r"names one column, 'a;b'.*separated by ';'.*commas"),
        (b"a\tb\n1\t2\n", "text/csv", "separated by tabs"),
        (b"a,b\n1,2\n1,2,3\n", "text/csv", r"line 3 has 3 .* names 2 .*quote values"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        decode(body, content_type, NAMES)


def test_invocations_answer_what_predict_answers(api: Any) -> None:
    client, _ = api
    expected = client.post("/predict", json={"instances": ROWS}, headers=token("predict"))
    for shape, body in SHAPES.items():
        answer = client.post("/invocations", json=body, headers=token("predict"))
        assert answer.status_code == 200, (shape, answer.text)
        assert answer.json() == {"predictions": expected.json()["predictions"]}, shape
        assert answer.headers["X-Mlfn-Model-Version"] == "1"
    csv_text = pd.DataFrame(ROWS)[NAMES[::-1]].to_csv(index=False)
    headers = {**token("predict"), "Content-Type": "text/csv"}
    answer = client.post("/invocations", content=csv_text, headers=headers)
    assert answer.json() == {"predictions": expected.json()["predictions"]}


def test_invocations_errors_have_mlflows_shape(api: Any) -> None:
    client, _ = api
    bad = client.post("/invocations", content=b"{oops", headers=token("predict"))
    assert bad.status_code == 400 and bad.json()["error_code"] == "BAD_REQUEST"
    assert "JSON" in bad.json()["message"]
    wrong = client.post("/invocations", json={"instances": [{**ROW, "sepal_width": "wide"}]},
                        headers=token("predict"))  # fmt: skip
    assert wrong.status_code == 400 and "sepal_width" in wrong.json()["message"]
    anonymous = client.post("/invocations", json={"instances": [ROW]})
    assert anonymous.status_code == 401 and anonymous.json()["error_code"] == "UNAUTHENTICATED"
    user = client.post("/invocations", json={"instances": [ROW]}, headers=token("train"))
    assert user.status_code == 403 and user.json()["error_code"] == "PERMISSION_DENIED"
    assert client.get("/ping").text == "\n" and client.get("/version").status_code == 200


@pytest.fixture
def served_over_http(api: Any, tmp_path: Any) -> Iterator[int]:
    """`mlfn serve` on loopback over the api fixture's project."""
    from tests.contract.test_doors import free_port

    _, services = api
    port = free_port()
    env = {**os.environ, "MLFN_CONFIG": str(services.settings.config_path),
           "MLFN_JWT_SECRET": SECRET, "MLFN_TRACKING": "off"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "--port", str(port)], cwd=REPO, env=env
    )
    yield port
    server.terminate()
    server.wait(timeout=10)


def test_mlflows_own_scoring_client_scores_against_mlfn_serve(
    served_over_http: int, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlflow.pyfunc.scoring_server.client.ScoringServerClient, as MLflow's tooling uses it;
    the bearer token is added the way a gateway or a requests hook would."""
    import requests
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    real_post = requests.post

    def with_token(url: str, **kwargs: Any) -> Any:
        kwargs["headers"] = {**kwargs.get("headers", {}), **token("predict")}
        return real_post(url, **kwargs)

    monkeypatch.setattr(requests, "post", with_token)
    client = ScoringServerClient("127.0.0.1", served_over_http)
    client.wait_server_ready(timeout=60)
    frame = pd.DataFrame(ROWS)[NAMES[::-1]].assign(extra="ignored")
    response = client.invoke(frame)
    test_client, _ = api
    expected = test_client.post("/predict", json={"instances": ROWS}, headers=token("predict"))
    wanted = expected.json()["predictions"]
    assert response["predictions"] == wanted
    assert response.get_predictions(predictions_format="ndarray").tolist() == wanted
    assert client.get_version()
