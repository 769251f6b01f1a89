"""Lineage: every version records its source, dataset, config, code, libraries and seeds;
`mlfn lineage` follows it into every environment it was promoted to; `mlfn reproduce`
retrains it from the record and compares the metrics."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core import lineage
from core.cli import main
from core.config import load_settings
from core.data.sources import public_source
from core.deploy.bundle import stage_bundle
from core.errors import DataError, ValidationError
from core.lineage import config_record
from core.registry import ModelRegistry
from core.reproduce import reproduce
from core.storage import open_store
from tests.conftest import EXAMPLES, REPO, make_project

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An iris project trained once in dev, by a pipeline that set its commit."""
    monkeypatch.setenv("MLFN_CODE_VERSION", COMMIT)
    lineage.code_version.cache_clear()
    config = make_project(
        tmp_path,
        model_type=["logistic_regression", "random_forest"],
        training_params={"random_forest": {"n_estimators": 10}},
    )  # quick
    assert main(["train", "--config", str(config), "--json"]) == 0
    lineage.code_version.cache_clear()
    return config


def _metadata(config: Path, env: str = "dev", version: int = 1) -> dict:
    settings = load_settings(config, env)
    return ModelRegistry(open_store(settings.store_uri), "iris").metadata(version)


def test_a_version_records_what_it_was_made_from(trained: Path) -> None:
    record = _metadata(trained)["lineage"]
    raw = (EXAMPLES / "iris" / "iris.csv").read_bytes()
    assert record["source"]["uri"] == str(EXAMPLES / "iris" / "iris.csv")
    assert record["source"]["raw_sha256"] == hashlib.sha256(raw).hexdigest()
    assert record["dataset"]["rows"] == 150 and len(record["dataset"]["sha256"]) == 64
    settings = load_settings(trained, "dev")
    resolved = settings.config.model_copy(update={"task": "classification"})
    assert record["config"]["sha256"] == config_record(resolved, settings.parser)["sha256"]
    assert record["code"] == {"package": "0.1.0", "commit": COMMIT, "dirty": False,
                              "from": "MLFN_CODE_VERSION"}  # fmt: skip
    assert record["seeds"]["random_seed"] == settings.config.random_seed
    assert record["training"]["model_types"] == settings.config.model_type


def test_lineage_follows_the_version_through_its_promotions(
    trained: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFN_ACTOR", "alice")
    # staging and prod are S3 buckets, unreachable here: one attempt each, whatever
    # credentials an earlier test left in the process (then boto3 tries the network)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFN_STORAGE_RETRIES", "1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["promote", "1", "--to-env", "qa", "--config", str(trained)]) == 0
    capsys.readouterr()
    for env in ("dev", "qa"):  # the same chain, asked from either end
        assert main(["lineage", "1", "--env", env, "--config", str(trained), "--json"]) == 0
        found = json.loads(capsys.readouterr().out)
        chain, unreachable = found["deployments"][:2], found["deployments"][2:]
        assert len(unreachable) == 2  # staging and prod are S3 buckets, unreadable here
        assert [n["env"] for n in unreachable] == ["staging", "prod"]
        errors = [n["error"] for n in unreachable]  # named, and the chain goes on
        assert all("unreachable" in e or "credentials" in e for e in errors), errors
        assert all(n["store"].startswith("s3://") for n in unreachable)
        assert [(n["env"], n["version"], n["champion"]) for n in chain] == [
            ("dev", 1, True), ("qa", 1, True)]  # fmt: skip
        assert chain[1]["promotion"]["by"] == "alice"
        assert chain[1]["files"] == chain[0]["files"]  # the same bytes, by sha256
        assert found["lineage"]["code"]["commit"] == COMMIT
    assert main(["lineage", "1", "--config", str(trained)]) == 0
    text = capsys.readouterr().out
    assert f"commit {COMMIT[:12]} (MLFN_CODE_VERSION)" in text
    assert "deployed   dev v1 (champion) → qa v1 at " in text and "by alice (champion)" in text


def test_reproduce_retrains_from_the_record_and_matches(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    scratch = tmp_path / "scratch"
    assert main(["reproduce", "1", "--config", str(trained), "--scratch", str(scratch)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("iris v1: reproduced (tolerance 1e-06")
    assert (scratch / "models" / "iris" / "versions").is_dir()  # trained there, not in dev
    assert ModelRegistry(open_store(f"file://{tmp_path / 'store'}"), "iris").versions() == [1]
    result = reproduce(load_settings(trained, "dev"), 1, tmp_path / "again")
    recorded = _metadata(trained)["candidates"]
    assert {row["candidate"] for row in result["metrics"]} == set(recorded)
    assert all(row["difference"] == 0 for row in result["metrics"])


def test_a_version_copied_to_qa_is_reproduced_from_the_dataset_in_dev(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["promote", "1", "--to-env", "qa", "--config", str(trained)]) == 0
    result = reproduce(load_settings(trained, "qa"), 1, tmp_path / "scratch")
    assert result["reproduced"] and result["env"] == "qa"


def test_a_changed_result_is_reported_and_fails(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    metadata_file = tmp_path / "store" / "models" / "iris" / "versions" / "1" / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata["candidates"]["random_forest"]["accuracy"] -= 0.05  # as if trained differently
    metadata_file.write_text(json.dumps(metadata))
    code = main(["reproduce", "1", "--config", str(trained), "--scratch", str(tmp_path / "s")])
    captured = capsys.readouterr()
    assert code == 2 and "iris v1: NOT reproduced" in captured.out
    assert "random_forest        accuracy" in captured.out and "+5.00e-02" in captured.out
    assert "metrics were not reproduced within 1e-06" in captured.err


def test_a_changed_dataset_or_config_is_refused(trained: Path, tmp_path: Path) -> None:
    settings = load_settings(trained, "dev")
    record = _metadata(trained)["lineage"]
    dataset = tmp_path / "store" / record["dataset"]["key"]
    metadata_file = tmp_path / "store" / "models" / "iris" / "versions" / "1" / "metadata.json"
    metadata = json.loads(metadata_file.read_text())
    metadata["lineage"]["config"]["config"]["train_split"] = 0.5
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(ValidationError, match="recorded config does not match its hash"):
        reproduce(settings, 1, tmp_path / "s1")
    metadata["lineage"] = record
    metadata_file.write_text(json.dumps(metadata))
    import pandas as pd

    pd.read_parquet(dataset).head(100).to_parquet(dataset, index=False)
    with pytest.raises(DataError, match="no longer has its sha256"):
        reproduce(settings, 1, tmp_path / "s2")
    del metadata["lineage"]
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(ValidationError, match="has no lineage record"):
        reproduce(settings, 1, tmp_path / "s3")


def test_sources_are_recorded_without_credentials() -> None:
    assert public_source("https://user:pw@example.com:8443/d.csv?sig=abc&fmt=csv") == (
        "https://example.com:8443/d.csv?sig=***&fmt=csv"
    )
    presigned = "https://b.s3.amazonaws.com/d.csv?X-Amz-Signature=ff&X-Amz-Date=1&access_token=t"
    assert "ff" not in public_source(presigned) and "X-Amz-Date=1" in public_source(presigned)
    assert public_source("data/iris.csv") == "data/iris.csv"


def test_a_bundle_carries_the_commit_it_was_built_from(tmp_path: Path) -> None:
    bundle = stage_bundle("gcp", REPO, tmp_path / "bundle")
    info = json.loads((bundle / "core" / "BUILD_INFO.json").read_text())
    assert len(info["commit"]) == 40 and isinstance(info["dirty"], bool)
    head = lineage.git_commit(REPO)
    assert head is not None and info["commit"] == head["commit"]
