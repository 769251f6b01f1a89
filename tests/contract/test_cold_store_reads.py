"""A cold function serves its first /predict from its own cloud's store without importing
that cloud's storage SDK (core.storage.*_lean): the AWS handler from S3 (moto), the Google
Cloud entry point from GCS (its emulator), the Azure function from Blob Storage (Azurite),
each in a fresh interpreter, as a new instance starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.doors import FIRST_PREDICT
from core.auth import mint_token
from core.config import load_settings
from core.storage import open_store
from core.training.run import train
from tests.conftest import REPO, make_project

SECRET = "cold-store-secret-0123456789abcdefgh"
SDKS = {"aws": "boto3", "gcp": "google.cloud.storage", "azure": "azure.storage.blob"}
ROW = {"sepal_length": 6.1, "sepal_width": 2.8, "petal_length": 4.7, "petal_width": 1.2}


@pytest.mark.parametrize(
    ("door", "uri_fixture"), [("aws", "s3_uri"), ("gcp", "gcs_uri"), ("azure", "azure_uri")]
)
def test_the_first_predict_reads_the_store_without_the_cloud_sdk(
    door: str, uri_fixture: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    uri = request.getfixturevalue(uri_fixture)  # the emulator, started (CI: must start)
    config = make_project(tmp_path, "iris")
    settings = load_settings(config, env="dev", store=uri)
    train(settings, open_store(uri), model_types=["logistic_regression"])
    env = {**os.environ, "MLFN_CONFIG": str(config), "MLFN_STORE": uri,
           "MLFN_JWT_SECRET": SECRET, "MLFN_TRACKING": "off", "PYTHONPATH": str(REPO),
           "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config")}  # fmt: skip
    script = FIRST_PREDICT[door] + f"\nprint({SDKS[door]!r} in sys.modules)\n"
    event = REPO / "tests" / "events" / "apigw_http_v2.json"
    body = json.dumps({"instances": [ROW]})
    done = subprocess.run(
        [sys.executable, "-c", script, str(event), body, mint_token(SECRET, ["predict"])],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]  # the scripts assert a 200
    assert done.stdout.strip().splitlines()[-1] == "False", f"{SDKS[door]} was imported"
