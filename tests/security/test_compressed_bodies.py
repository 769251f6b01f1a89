"""GIVEN a body sent with `Content-Encoding: gzip` or `deflate` WHEN it reaches any route
THEN it is read decoded, as Triton's HTTP endpoint reads one; the body limit holds for the
decoded size too (a small "zip bomb" is a 413, not 6 MB of work past the limit), and a
coding it does not take, or a body that is not what its coding says, is a clear 4xx."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest

from tests.unit.test_api import ROW, token

JSON = {"content-type": "application/json"}


def _post(api: Any, path: str, body: bytes, coding: str, **headers: str) -> Any:
    client, _ = api
    sent = {**token("predict"), **JSON, "content-encoding": coding, **headers}
    return client.post(path, content=body, headers=sent)


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("GZip", gzip.compress),
        ("deflate", zlib.compress),
        ("gzip", lambda data: gzip.compress(data[:9]) + gzip.compress(data[9:])),  # 2 members
    ],
)
def test_each_route_reads_a_compressed_body_as_the_plain_one(
    api: Any, coding: str, compress: Any
) -> None:
    client, _ = api
    bodies = {
        "/predict": {"instances": [ROW, ROW]},
        "/invocations": {"dataframe_records": [ROW]},
        "/v2/models/iris/infer": {"inputs": [
            {"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
            for name, value in ROW.items()
        ]},
    }  # fmt: skip
    for path, body in bodies.items():
        data = json.dumps(body).encode()
        plain = client.post(path, content=data, headers={**token("predict"), **JSON})
        packed = _post(api, path, compress(data), coding)
        assert packed.status_code == plain.status_code == 200, (path, packed.text)
        assert _without_ids(packed.json()) == _without_ids(plain.json())


def _without_ids(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer less what differs per request: prediction ids, OIP's id and parameters."""
    return {key: value for key, value in answer.items()
            if key not in ("prediction_ids", "id", "parameters")}  # fmt: skip


def test_the_limit_holds_for_the_decoded_size(api: Any) -> None:
    bomb = gzip.compress(b" " * (7 * 2**20))  # 7 MB of spaces in about 7 KB
    assert len(bomb) < 100_000
    for path in ("/predict", "/invocations", "/v2/models/iris/infer"):
        answer = _post(api, path, bomb, "gzip")
        assert answer.status_code == 413 and "decompressed, is over 6 MB" in answer.text


@pytest.mark.parametrize(
    ("body", "coding", "status", "said"),
    [
        (b'{"instances": []}', "gzip", 400, "not what its Content-Encoding says"),
        (gzip.compress(b'{"instances": [1]}')[:-12], "gzip", 400, "ends before its end"),
        (zlib.compress(b"{}") + b"junk", "deflate", 400, "not what its Content-Encoding"),
        (b"{}", "br", 415, "content encoding 'br' is not supported"),
        (gzip.compress(gzip.compress(b"{}")), "gzip, gzip", 415, "'gzip, gzip' is not"),
    ],
)
def test_a_body_unlike_its_coding_or_an_unknown_coding_is_refused(
    api: Any, body: bytes, coding: str, status: int, said: str
) -> None:
    answer = _post(api, "/predict", body, coding)
    assert answer.status_code == status and said in answer.json()["error"]["message"]
    assert answer.json()["error"]["code"] == ("bad_request" if status == 400 else
                                              "unsupported_media_type")  # fmt: skip


def test_the_token_is_checked_before_a_compressed_body_is_read(api: Any) -> None:
    client, _ = api
    answer = client.post(
        "/predict", content=gzip.compress(b" " * (7 * 2**20)),
        headers={**JSON, "content-encoding": "gzip"},
    )  # fmt: skip
    assert answer.status_code == 401


def test_identity_and_an_empty_coding_are_the_plain_body(api: Any) -> None:
    data = json.dumps({"instances": [ROW]}).encode()
    for coding in ("identity", ""):
        assert _post(api, "/predict", data, coding).status_code == 200
