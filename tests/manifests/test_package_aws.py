"""`mlfn package aws`: the predict zip fits Lambda, and a fresh venv of the runtime's Python,
with nothing but the zip's contents (the wheels requirements.txt names), answers /predict."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core.auth import mint_token
from core.deploy.bundle import LAMBDA_UNZIPPED_LIMIT_MB, PREDICT_BUDGET_MB, lambda_python
from tests.manifests.conftest import REPO

HEAVY = ("sklearn/", "torch/", "pandas/", "mlflow/", "skl2onnx/", "scipy/")
SECRET = "package-test-secret-0123456789abcdef"
SCRIPT = """
import json, sys
from functions.aws.handler import handler
class Context:
    function_name = "mlfn-predict"; memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:mlfn-predict"
    aws_request_id = "req-1"
answer = handler(json.loads(sys.stdin.read()), Context())
HEAVY = ("sklearn", "torch", "pandas", "mlflow")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
import boto3, botocore.exceptions
clients = [boto3.client(name, region_name="us-east-1").meta.service_model.service_name
           for name in ("s3", "sqs", "ssm", "secretsmanager", "sts")]
try:
    boto3.client("dynamodb", region_name="us-east-1")
    pruned = None
except botocore.exceptions.UnknownServiceError as exc:
    pruned = type(exc).__name__
print(json.dumps({"answer": answer, "heavy": heavy, "path": sys.path, "clients": clients,
                  "pruned": pruned}))
"""


def test_zip_unzips_under_lambdas_limit_without_the_training_stack(aws_package: Any) -> None:
    with zipfile.ZipFile(aws_package.zip_path) as archive:
        infos = archive.infolist()
    unzipped = sum(info.file_size for info in infos) / 1024 / 1024
    assert unzipped == pytest.approx(aws_package.unzipped_mb, rel=1e-6)
    assert unzipped < LAMBDA_UNZIPPED_LIMIT_MB
    assert unzipped <= PREDICT_BUDGET_MB, f"{unzipped:.1f} MB is over DESIGN's budget"
    names = [info.filename for info in infos]
    assert not [n for n in names if n.startswith(HEAVY)]
    assert "onnxruntime/__init__.py" in names and "mangum/__init__.py" in names
    assert not [n for n in names if n.startswith("onnxruntime/capi/libonnxruntime.so")]
    services = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and
                n.count("/") > 2}  # fmt: skip
    assert services == {"s3", "sqs", "ssm", "secretsmanager", "sts"}


def _http_v2_event(body: dict[str, Any], token: str) -> dict[str, Any]:
    event = json.loads((REPO / "tests" / "events" / "apigw_http_v2.json").read_text())
    event["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


def test_fresh_venv_with_only_the_zip_answers_predict(
    aws_package: Any, trained_iris: Any, tmp_path: Path
) -> None:
    python = lambda_python()
    if python is None:
        pytest.fail("no python3.12 (Lambda's python3.12 runtime) on this machine; install one")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
    task_root = tmp_path / "task"  # Lambda's /var/task: the zip, unpacked
    zipfile.ZipFile(aws_package.zip_path).extractall(task_root)
    settings, store = trained_iris
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(task_root), "HOME": str(tmp_path),
           "MLFN_STORE": store.uri, "MLFN_JWT_SECRET": SECRET, "MLFN_TRACKING": "off",
           "AWS_LAMBDA_FUNCTION_NAME": "mlfn-predict", "AWS_REGION": "us-east-1"}  # fmt: skip
    token = mint_token(SECRET, ["predict"], subject="t", ttl=300, issuer="mlfn",
                       audience="mlfn-api")  # fmt: skip
    rows = {"instances": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4,
                           "petal_width": 0.2}]}  # fmt: skip
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", SCRIPT.replace("import json, sys",
         f"import json, sys; sys.path.insert(0, {str(task_root)!r})")],
        input=json.dumps(_http_v2_event(rows, token)), cwd=task_root, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert not any("site-packages" in p and ".venv" in p for p in output["path"])
    answer = output["answer"]
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    assert body["predictions"] == ["setosa"]
    assert body["model"]["name"] == settings.config.model_name
    assert output["heavy"] == []
    assert output["clients"] == ["s3", "sqs", "ssm", "secretsmanager", "sts"]
    assert output["pruned"] == "UnknownServiceError"  # the ≈400 other service models
