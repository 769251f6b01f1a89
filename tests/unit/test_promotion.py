"""`mlfn promote VERSION --to-env E`: a verified copy into the next environment's store, then
a compare-and-swap champion move there; failures leave that environment's champion serving."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.cli import main
from core.config import Settings, load_settings
from core.errors import ConflictError, CorruptModelError, ValidationError
from core.promotion import promote_to_env
from core.registry import ModelRegistry
from core.storage import open_store
from core.training.run import train
from tests.conftest import make_project


@pytest.fixture
def dev(tmp_path: Path) -> Settings:
    settings = load_settings(make_project(tmp_path, model_type="logistic_regression"), env="dev")
    train(settings, open_store(settings.store_uri))
    return settings


def _registry(settings: Settings, env: str) -> ModelRegistry:
    return ModelRegistry(open_store(settings.for_env(env).store_uri), settings.config.model_name)


def test_copies_verifies_and_makes_it_champion_in_the_next_env(dev: Settings) -> None:
    result = promote_to_env(dev, 1, "qa")
    qa = _registry(dev, "qa")
    assert result["to"]["version"] == 1 and result["copied"] is True
    assert qa.champion().version == 1  # type: ignore[union-attr]
    source, copied = _registry(dev, "dev").metadata(1), qa.metadata(1)
    assert copied["files"] == source["files"]  # same sha256 for every file
    assert copied["promoted_from"]["env"] == "dev" and copied["promoted_from"]["version"] == 1
    assert copied["metrics"] == source["metrics"]


def test_rerun_reuses_the_copy(dev: Settings) -> None:
    promote_to_env(dev, 1, "qa")
    again = promote_to_env(dev, 1, "qa")
    assert again["copied"] is False and _registry(dev, "qa").versions() == [1]


def test_a_tampered_source_file_is_refused_and_qa_keeps_its_champion(dev: Settings) -> None:
    promote_to_env(dev, 1, "qa")
    train(dev, open_store(dev.store_uri), force=True)  # dev v2
    store = open_store(dev.store_uri)
    key = "models/iris/versions/2/model.onnx"
    store.write_bytes(key, store.read_bytes(key) + b"\0")
    with pytest.raises(CorruptModelError, match="does not match its sha256"):
        promote_to_env(dev, 2, "qa")
    qa = _registry(dev, "qa")
    assert qa.champion().version == 1 and qa.versions() == [1]  # type: ignore[union-attr]


def test_champion_moved_by_someone_else_is_a_conflict(
    dev: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    promote_to_env(dev, 1, "qa")
    train(dev, open_store(dev.store_uri), force=True)  # dev v2
    qa = _registry(dev, "qa")
    stale = qa.champion()
    real_champion = ModelRegistry.champion

    def champion_then_race(self: ModelRegistry) -> Any:
        pointer = real_champion(self)
        if self.store.uri == qa.store.uri and pointer is not None and pointer.version == 1:
            # another promoter moves the champion to a version of its own first
            meta = qa.metadata(1)
            files = {name: qa.read_file(1, name, meta) for name in meta["files"]}
            qa.promote(qa.create_version(files, {"model_type": "by hand"}), pointer)
        return pointer

    monkeypatch.setattr(ModelRegistry, "champion", champion_then_race)
    with pytest.raises(ConflictError, match="rerun to promote it"):
        promote_to_env(dev, 2, "qa")
    monkeypatch.undo()
    assert stale is not None and qa.champion().version == 2  # type: ignore[union-attr]
    assert promote_to_env(dev, 2, "qa")["copied"] is False  # the copy landed; a rerun promotes
    assert qa.champion().version == 3  # type: ignore[union-attr]


def test_promotion_only_goes_forward(dev: Settings) -> None:
    with pytest.raises(ValidationError, match="dev → qa → staging → prod"):
        promote_to_env(dev.for_env("qa"), 1, "dev")


def test_a_configured_environment_is_not_skipped_unless_forced(dev: Settings) -> None:
    from core.promotion import check_order

    with pytest.raises(ValidationError, match=r"skips \['qa'\]; promote there first"):
        promote_to_env(dev, 1, "staging")
    check_order("dev", "staging", ["dev", "qa", "staging"], force=True)
    check_order("dev", "prod", ["dev", "prod"])  # nothing configured in between


def test_cli_into_an_s3_environment(dev: Settings, s3_env: dict[str, str],
                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from tests.emulator_fixtures import make_s3_bucket

    bucket = make_s3_bucket()
    data = json.loads(dev.config_path.read_text())
    data["promotion"]["staging"]["store"] = f"s3://{bucket}"
    dev.config_path.write_text(json.dumps(data))
    promote_to_env(load_settings(dev.config_path, env="dev"), 1, "qa")
    args = ["promote", "1", "--config", str(dev.config_path), "--env", "qa"]
    assert main([*args, "--to-env", "staging"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["to"] == {"env": "staging", "store": f"s3://{bucket}", "version": 1}
    staging = ModelRegistry(open_store(f"s3://{bucket}"), "iris")
    assert staging.champion().version == 1  # type: ignore[union-attr]
    assert staging.read_file(1, "model.onnx")  # sha256 checked on read


def test_a_worse_version_is_refused_by_cli_and_api_alike_unless_forced(
    dev: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from fastapi.testclient import TestClient

    from core.api import create_app
    from tests.unit.test_api import local_services, token

    store = open_store(dev.store_uri)
    weak = {"random_forest": {"n_estimators": 1, "max_depth": 1}}
    summary = train(dev, store, model_types=["random_forest"], params=weak)
    assert not summary["promoted"]
    worse, registry = summary["version"], ModelRegistry(store, "iris")
    args = ["promote", str(worse), "--config", str(dev.config_path)]
    assert main(args) == 2
    assert "worse than champion v1's" in capsys.readouterr().err
    client = TestClient(create_app(local_services(dev, store)))
    answer = client.post(f"/models/{worse}/promote", headers=token("admin"))
    assert (
        answer.status_code == 409 and "worse than champion v1" in answer.json()["error"]["message"]
    )
    assert registry.champion().version == 1
    assert main([*args, "--force"]) == 0  # a deliberate rollback
    assert registry.champion().version == worse
    back = client.post("/models/1/promote", headers=token("admin"))  # better: no force needed
    assert back.status_code == 200 and back.json() == {"champion": 1, "previous_champion": worse}


def test_a_relative_target_store_is_the_config_folders_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`file://store-qa` in the config means next to the config, as for the dev store."""
    config_path = make_project(tmp_path / "project", model_type="logistic_regression")
    config = json.loads(config_path.read_text())
    config["promotion"]["qa"]["store"] = "file://store-qa"
    config_path.write_text(json.dumps(config))
    settings = load_settings(config_path, env="dev")
    train(settings, open_store(settings.store_uri))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = promote_to_env(settings, 1, "qa")
    assert result["to"]["store"] == f"file://{tmp_path / 'project' / 'store-qa'}"
    assert (tmp_path / "project" / "store-qa" / "models" / "iris").is_dir()
    assert not (elsewhere / "store-qa").exists()
