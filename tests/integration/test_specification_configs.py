"""GIVEN the original specification's config.json and project_parser_config.json, unchanged
(examples/specification/) WHEN the CLI runs ingest -> train -> predict with them
THEN it works on the local store and on the S3 emulator (the store named by `s3_bucket`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO
from tests.unit.test_cli import mlfn

SPEC = EXAMPLES / "specification"
DATA = str(SPEC / "data.csv")


def test_the_files_are_the_specifications_own() -> None:
    seed = REPO.parent / "shared" / "seed-configs"
    if not seed.exists() and os.environ.get("CI") != "true":
        pytest.skip("the specification's seed configs are not beside this checkout")
    for name in ("config.json", "project_parser_config.json"):
        assert (SPEC / name).read_bytes() == (seed / name).read_bytes()


def _pipeline(*store_args: str, env: dict[str, str] | None = None) -> dict:
    config = str(SPEC / "config.json")
    check = mlfn("config", "check", "--config", config, *store_args, "--json", env=env)
    assert check.returncode == 0, check.stderr
    notes = json.loads(check.stdout)["notes"]
    assert any("model_name: 'ml-model-endpoint'" in n for n in notes)
    ingested = mlfn("ingest", "--config", config, *store_args, "--source", DATA, env=env)
    assert ingested.returncode == 0, ingested.stderr
    trained = mlfn("train", "--config", config, *store_args, "--json", env=env)
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert summary["promoted"] and summary["task"] == "classification"
    assert summary["model_type"] == "neural_network" and summary["metrics"]["accuracy"] > 0.9
    sample = str(SPEC / "sample.json")
    answer = mlfn("predict", "--config", config, *store_args, "--input", sample, "--json", env=env)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["predictions"] == ["positive", "negative"]
    return summary


def test_local_store(tmp_path: Path) -> None:
    summary = _pipeline("--store", f"file://{tmp_path / 'store'}")
    assert summary["store"] == f"file://{tmp_path / 'store'}"


def test_s3_emulator_store_from_s3_bucket(s3_env: dict[str, str]) -> None:
    import boto3

    s3 = boto3.client("s3")
    if "ml-pipeline-dev" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="ml-pipeline-dev")
    summary = _pipeline(env={**s3_env, "MLFN_DATA_SOURCE": DATA})
    assert summary["store"] == "s3://ml-pipeline-dev"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ml-pipeline-dev")["Contents"]]
    assert any(k.startswith("data/raw/data/") for k in keys)
    assert any(k.startswith("models/ml-model-endpoint/versions/") for k in keys)
