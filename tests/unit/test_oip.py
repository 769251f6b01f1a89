"""The Open Inference Protocol v2 (REST): probes, model metadata, and inference by feature
name or as one 2-D tensor giving what /predict gives; errors as the protocol says."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_api import ROW, token
from tests.unit.test_api import api as api  # the fixture

NAMES = list(ROW)
ROWS = [ROW, {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}]


def _by_name(datatype: str = "FP64", nested: bool = True) -> dict[str, Any]:
    def column(name: str) -> list[Any]:
        values = [row[name] for row in ROWS]
        return [[v] for v in values] if nested else values

    shape = [len(ROWS), 1] if nested else [len(ROWS)]
    return {"inputs": [{"name": n, "shape": shape, "datatype": datatype, "data": column(n)}
                       for n in NAMES]}  # fmt: skip


TENSOR = {"id": "req-7", "inputs": [{"name": "input-0", "shape": [len(ROWS), len(NAMES)],
                                     "datatype": "FP32",
                                     "data": [row[n] for row in ROWS for n in NAMES]}]}  # fmt: skip


def test_probes_and_server_metadata_are_public(api: Any) -> None:
    client, _ = api
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2").json()["name"] == "mlfn"


def test_model_metadata_names_inputs_and_outputs(api: Any) -> None:
    client, _ = api
    found = client.get("/v2/models/iris", headers=token("predict")).json()
    assert found["platform"] == "onnx_onnxv1" and found["versions"] == ["1"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in found["inputs"]] == [
        (n, "FP64", [-1, 1]) for n in NAMES
    ]
    assert [(t["name"], t["datatype"]) for t in found["outputs"]] == [
        ("label", "BYTES"),
        ("probabilities", "FP64"),
    ]
    assert client.get("/v2/models/iris/versions/1", headers=token("predict")).json() == found
    ready = client.get("/v2/models/iris/versions/1/ready", headers=token("predict"))
    assert ready.json() == {"name": "iris", "ready": True}


@pytest.mark.parametrize(
    "body",
    [_by_name(), _by_name("FP32", nested=False), TENSOR],
    ids=["by-name-n-by-1", "by-name-flat-fp32", "one-2d-tensor"],
)
def test_infer_answers_what_predict_answers(api: Any, body: dict[str, Any]) -> None:
    client, _ = api
    expected = client.post("/predict", json={"instances": ROWS}, headers=token("predict")).json()
    for path in ("/v2/models/iris/infer", "/v2/models/iris/versions/1/infer"):
        answer = client.post(path, json=body, headers=token("predict"))
        assert answer.status_code == 200, answer.text
        found = answer.json()
        outputs = {o["name"]: o for o in found["outputs"]}
        assert outputs["label"]["data"] == expected["predictions"]
        assert outputs["probabilities"]["shape"] == [2, 3]
        flat = [v for row in expected["probabilities"] for v in row]
        assert outputs["probabilities"]["data"] == pytest.approx(flat)
        assert found["model_name"] == "iris" and found["model_version"] == "1"
    if "id" in body:
        assert found["id"] == body["id"]


def test_requested_outputs_only(api: Any) -> None:
    client, _ = api
    body = {**_by_name(), "outputs": [{"name": "label"}]}
    found = client.post("/v2/models/iris/infer", json=body, headers=token("predict")).json()
    assert [o["name"] for o in found["outputs"]] == ["label"]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/models/other/infer", TENSOR, 404, "models there: iris"),
        ("/v2/models/iris/versions/9/infer", TENSOR, 404, "no version 9"),
        ("/v2/models/iris/infer", {"inputs": []}, 400, "non-empty list"),
        ("/v2/models/iris/infer", {"inputs": [{**TENSOR["inputs"][0], "shape": [2, 3],
                                               "data": [1, 2, 3, 4, 5, 6]}]}, 400,
         "shape [n, 4]"),
        ("/v2/models/iris/infer", {"inputs": [{**TENSOR["inputs"][0], "datatype": "FP8"}]}, 400,
         "datatype"),
        ("/v2/models/iris/infer", {"inputs": [{**TENSOR["inputs"][0], "shape": [3, 4]}]}, 400,
         "holds 12 values"),
        ("/v2/models/iris/infer", {"inputs": [{**TENSOR["inputs"][0],
                                               "parameters": {"binary_data_size": 32}}]}, 400,
         "binary tensor extension"),
        ("/v2/models/iris/infer", {**TENSOR, "outputs": [{"name": "logits"}]}, 400, "logits"),
        ("/v2/models/iris/infer", {"inputs": [{"name": "sepal_length", "shape": [1],
                                               "datatype": "BYTES", "data": ["x"]}]}, 400,
         "missing feature"),
        ("/v2/models/iris/infer", {"inputs": [{**TENSOR["inputs"][0], "datatype": "INT64",
                                               "data": [5, 3.5, 1, 0] * 2}]}, 400,
         "3.5 is not a value of datatype INT64"),
        ("/v2/models/iris/infer", {"inputs": [{**TENSOR["inputs"][0], "datatype": "UINT8",
                                               "data": [5, 3, 1, 256] * 2}]}, 400,
         "256 is not a value of datatype UINT8"),
    ],
)  # fmt: skip
def test_errors_are_the_protocols(
    api: Any, path: str, body: dict[str, Any], status: int, message: str
) -> None:
    client, _ = api
    answer = client.post(path, json=body, headers=token("predict"))
    assert answer.status_code == status, answer.text
    assert set(answer.json()) == {"error"} and message in answer.json()["error"]


def test_inference_needs_the_predict_scope(api: Any) -> None:
    client, _ = api
    anonymous = client.post("/v2/models/iris/infer", json=TENSOR)
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    assert client.get("/v2/models/iris", headers=token("train")).status_code == 403
