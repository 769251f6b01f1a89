"""File formats, decoding errors, candidate fallback, one scoring basis, and which dataset
`train` uses — GIVEN inputs as users have them WHEN ingested or trained THEN mlfn copes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data.ingest import ingest
from core.errors import DataError, ExportError
from core.inference import Predictor
from core.registry import ModelRegistry
from core.training.run import prepare_training, train
from tests.conftest import EXAMPLES, project_settings
from tests.robustness.datasets import encode
from tests.unit.test_cli import mlfn

FORMATS = ["csv", "csv-bom", "tsv", "semicolon", "json", "jsonl", "parquet"]
FORMATS += ["unicode-text", "json-utf16be"]  # UTF-16 with a byte-order mark: read as such
FORMATS += ["excel-sep"]  # Excel's `sep=;` line before the header
SUFFIX = {"csv-bom": "csv", "semicolon": "csv", "unicode-text": "txt", "json-utf16be": "json",
          "excel-sep": "csv"}  # fmt: skip


def _frame() -> pd.DataFrame:
    frame = pd.read_csv(EXAMPLES / "iris" / "iris.csv")
    frame["note"] = ['has "quotes", a comma;\na newline\tand a tab'] * len(frame)
    frame["zip"] = ["02139"] * 75 + ["10001"] * 75
    return frame


@pytest.mark.parametrize("fmt", FORMATS + [f"{f}.gz" for f in FORMATS])
def test_every_format_gives_the_same_dataset(fmt: str, tmp_path: Path) -> None:
    base = fmt.split(".")[0]
    reference = tmp_path / "iris.csv"
    reference.write_bytes(encode(_frame(), "csv"))
    path = tmp_path / (f"iris.{SUFFIX.get(base, base)}" + (".gz" if fmt.endswith(".gz") else ""))
    path.write_bytes(encode(_frame(), fmt))
    settings, store = project_settings(
        tmp_path, features=["sepal_length", "note", "zip"], feature_types={}
    )
    settings = settings.__class__(
        settings.config,
        settings.parser.model_copy(update={"selected_fields": []}),
        settings.config_path,
        "dev",
        settings.store_uri,
    )
    expected = ingest(settings, store, str(reference))
    got = ingest(settings, store, str(path))
    assert got.sha256 == expected.sha256 and got.rows == 150


def test_a_decoding_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("a,b\n1,2\n3,caf\xe9\n".encode("latin-1"))
    settings, store = project_settings(tmp_path)
    with pytest.raises(DataError, match=r"latin\.csv': line 3, column 6: byte 0xe9 is not valid"):
        ingest(settings, store, str(path))
    zipped = tmp_path / "broken.csv.gz"
    zipped.write_bytes(gzip.compress(b"a,b\n1,2\n")[:-6])
    with pytest.raises(DataError, match="gzip data is corrupt"):
        ingest(settings, store, str(zipped))


def test_a_txt_export_is_delimited_text_and_a_spreadsheet_says_how_to_save_it(
    tmp_path: Path,
) -> None:
    frame = pd.read_csv(EXAMPLES / "iris" / "iris.csv")
    settings, store = project_settings(tmp_path)
    reference = ingest(settings, store)
    exported = tmp_path / "iris export.txt"  # as a tool exports a table: tabs, .txt
    exported.write_text(frame.to_csv(index=False, sep="\t"))
    assert ingest(settings, store, str(exported)).sha256 == reference.sha256
    sheet = tmp_path / "iris.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match=r"a spreadsheet \('\.xlsx'\) is not read; save the "):
        ingest(settings, store, str(sheet))


def test_separator_and_encoding_from_the_parser_config(tmp_path: Path) -> None:
    frame = pd.read_csv(EXAMPLES / "iris" / "iris.csv")
    path = tmp_path / "iris.txt.csv"
    path.write_bytes(frame.to_csv(index=False, sep="|").encode("utf-16"))
    settings, store = project_settings(tmp_path)
    parser = settings.parser.model_copy(update={"separator": "|", "encoding": "utf-16"})
    settings = settings.__class__(
        settings.config, parser, settings.config_path, "dev", settings.store_uri
    )
    assert ingest(settings, store, str(path)).rows == 150


def test_the_next_candidate_that_exports_is_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.export import onnx_export

    real = onnx_export.to_onnx

    def forest_cannot(pipeline, *args, **kwargs):  # type: ignore[no-untyped-def]
        if type(pipeline.named_steps["model"]).__name__.startswith("RandomForest"):
            raise ExportError("ONNX export of RandomForestClassifier failed: simulated")
        return real(pipeline, *args, **kwargs)

    monkeypatch.setattr("core.training.select.to_onnx", forest_cannot)
    settings, store = project_settings(tmp_path)
    summary = train(settings, store)
    assert summary["promoted"] and summary["model_type"] == "logistic_regression"
    assert summary["parity"]["ok"]
    assert summary["candidates"]["random_forest"]["exported"] is False
    assert any("random_forest: not exportable" in n for n in summary["notes"])
    assert "model.onnx" in ModelRegistry(store, "iris").metadata(1)["files"]


def test_summary_comparison_and_served_answers_share_one_basis(tmp_path: Path) -> None:
    settings, store = project_settings(tmp_path)
    summary = train(settings, store, model_types=["random_forest"])
    dataset = ingest(settings, store)
    from core.data.ingest import load_dataset

    data = prepare_training(settings.config, load_dataset(store, settings, dataset.sha256))
    held_out = data.split.raw_test
    rows = json.loads(held_out[settings.config.features].to_json(orient="records"))
    answers = Predictor(store, "iris").predict(rows)["predictions"]
    truth = [data.classes[i] for i in data.split.y_test]  # type: ignore[index]
    served_accuracy = float(np.mean([a == t for a, t in zip(answers, truth, strict=True)]))
    assert served_accuracy == summary["metrics"]["accuracy"]
    # The same model again (a default given explicitly, so it is trained anew).
    again = train(
        settings,
        store,
        model_types=["random_forest"],
        params={"random_forest": {"n_estimators": 100, "min_samples_leaf": 1}},
    )
    assert again["champion_metrics"] == again["metrics"]
    assert again["reason"].startswith("f1_macro") and "does not beat" in again["reason"]


def test_train_uses_what_ingest_just_made(tmp_path: Path) -> None:
    settings, _ = project_settings(tmp_path)
    config = str(settings.config_path)
    other = tmp_path / "half.csv"
    pd.read_csv(EXAMPLES / "iris" / "iris.csv").iloc[::2].to_csv(other, index=False)
    ingested = json.loads(
        mlfn("ingest", "--config", config, "--source", str(other), "--json").stdout
    )
    trained = mlfn("train", "--config", config, "--json")
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout)["dataset"]["sha256"] == ingested["sha256"]
    assert f"training on dataset {ingested['sha256'][:12]} (75 rows" in trained.stderr


def test_deploy_honours_store(tmp_path: Path) -> None:
    settings, _ = project_settings(tmp_path)
    shown = mlfn(
        "deploy",
        "aws",
        "--config",
        str(settings.config_path),
        "--env",
        "staging",
        "--store",
        "s3://elsewhere-bucket",
        "--dry-run",
    )
    assert shown.returncode == 0, shown.stderr
    assert "ArtifactBucketName=elsewhere-bucket" in shown.stdout
    assert "ArtifactBucketName=mlfn-iris-staging" not in shown.stdout
