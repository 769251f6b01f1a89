"""The cloud doors' app answers POST /predict without importing the web framework: a cold
instance whose first request is a prediction never pays for it. The first other request (or
a /predict body only the route can judge) builds the full app, behind the same middleware."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.auth import mint_token
from core.training.run import train
from tests.conftest import REPO, project_settings

SECRET = "door-app-secret-0123456789abcdefghij"
SCRIPT = r"""
import base64, copy, json, sys
from types import SimpleNamespace
import functions.aws.handler as handler

seen = {"import": "fastapi" in sys.modules}
template = json.load(open(sys.argv[1]))
token = sys.argv[2]
context = SimpleNamespace(function_name="mlfn", memory_limit_in_mb=1024, aws_request_id="r",
                          invoked_function_arn="arn:aws:lambda:us-east-1:1:function:mlfn")

def call(method, path, body):
    event = copy.deepcopy(template)
    event.update(rawPath=path, isBase64Encoded=body is not None,
                 body=base64.b64encode(json.dumps(body).encode()).decode() if body else None)
    event["headers"]["authorization"] = f"Bearer {token}"
    event["requestContext"]["http"].update(method=method, path=path)
    answer = handler.handler(event, context)
    return answer["statusCode"], "fastapi" in sys.modules

row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
seen["predict"] = call("POST", "/predict", {"instances": [row]})
seen["heavy_after_predict"] = sorted(
    name for name in ("starlette", "anyio", "jose", "cryptography") if name in sys.modules
)
seen["predict_again"] = call("POST", "/predict", {"dataframe_records": [row]})
seen["odd_body"] = call("POST", "/predict", {"rows": [row]})
seen["health"] = call("GET", "/health", None)
print(json.dumps(seen))
"""


def test_predict_answers_before_the_framework_is_imported(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    train(settings, store, model_types=["logistic_regression"])
    env = {**os.environ, "MLFN_CONFIG": str(settings.config_path), "MLFN_JWT_SECRET": SECRET,
           "MLFN_TRACKING": "off", "PYTHONPATH": str(REPO)}  # fmt: skip
    event = REPO / "tests" / "events" / "apigw_http_v2.json"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(event), mint_token(SECRET, ["predict"])],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["import"] is False
    assert seen["predict"] == [200, False] and seen["predict_again"] == [200, False]
    # nor Starlette's thread pool (anyio), nor python-jose for an HS256 token
    assert seen["heavy_after_predict"] == []
    assert seen["odd_body"] == [422, True]  # the route words the refusal: FastAPI built now
    assert seen["health"] == [200, True]
