"""`mlfn init` — GIVEN a data file and the column to predict WHEN a new user runs it THEN
the two config files it writes load, leave out what cannot be a feature, and train."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.config import load_settings
from core.scaffold import model_name_from
from core.storage import open_store
from core.training.run import train


def _data(path: Path, regression: bool = False) -> Path:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=120), rng.normal(size=120)
    frame = pd.DataFrame({
        "customer id": [f"c-{i:04d}" for i in range(120)],
        "a": a, "plan": rng.choice(["free", "pro"], 120), "empty": [None] * 120,
        "label": 3 * a + b if regression else np.where(a + b > 0, "churn", "stay"),
    })  # fmt: skip
    frame.to_csv(path, index=False)
    return path


def test_the_files_written_load_and_train_from_the_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _data(tmp_path / "Customers 2024.csv")
    assert main(["init", "Customers 2024.csv", "--target", "label"]) == 0
    shown = capsys.readouterr().out
    assert "customer id  left out: it identifies rows" in shown and "next: mlfn train\n" in shown
    config = json.loads((tmp_path / "config" / "config.json").read_text())
    assert config["model_name"] == "customers-2024" and config["task"] == "classification"
    assert config["features"] == ["a", "plan"]  # the id and the empty column left out
    assert config["data_source"] == "../Customers 2024.csv"
    parser = json.loads((tmp_path / "config" / "project_parser_config.json").read_text())
    assert parser["selected_fields"] == ["a", "plan", "label"]
    assert main(["train", "--json"]) == 0  # the default config: config/config.json
    summary = json.loads(capsys.readouterr().out)
    assert summary["promoted"] and summary["store"] == f"file://{tmp_path / '.mlfn' / 'dev'}"


def test_a_regression_target_gets_regression_candidates(tmp_path: Path) -> None:
    source = _data(tmp_path / "d.csv", regression=True)
    assert main(["init", str(source), "--target", "label", "--dir", str(tmp_path / "p")]) == 0
    settings = load_settings(tmp_path / "p" / "config.json", "dev")
    assert settings.config.task == "regression"
    assert settings.config.model_type == ["linear_regression", "random_forest"]


def test_a_misspelt_target_and_existing_files_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, folder = _data(tmp_path / "d.csv"), str(tmp_path / "p")
    assert main(["init", str(source), "--target", "Label", "--dir", folder]) == 2
    assert "no column 'Label' to predict; did you mean 'label'?" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    assert main(["init", str(source), "--target", "label", "--dir", folder]) == 0
    assert main(["init", str(source), "--target", "label", "--dir", folder]) == 2
    assert "already exist: give another --dir, or --force" in capsys.readouterr().err
    assert main(["init", str(source), "--target", "a", "--dir", folder, "--force"]) == 0
    assert json.loads((tmp_path / "p" / "config.json").read_text())["target"] == "a"


@pytest.mark.parametrize(
    ("source", "name"),
    [("data/My Sales (2024).csv", "my-sales-2024"), ("s3://b/x/iris.csv.gz", "iris"),
     ("https://api.example.com/v1/records?page=1", "records"), ("__.csv", "model")],
)  # fmt: skip
def test_model_names_from_file_names(source: str, name: str) -> None:
    assert model_name_from(source) == name


def test_amounts_written_with_a_currency_sign_are_noted_not_taken_for_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _data(tmp_path / "d.csv")
    frame = pd.read_csv(source)
    frame["price"] = [f"${1000 + 13.7 * i:,.2f}" for i in range(len(frame))]
    frame.to_csv(source, index=False)
    folder = tmp_path / "p"
    assert main(["init", str(source), "--target", "label", "--dir", str(folder)]) == 0
    shown = capsys.readouterr().out
    assert "price        categorical: its values are amounts with a currency sign" in shown
    assert "price" in json.loads((folder / "config.json").read_text())["features"]
    settings = load_settings(folder / "config.json", "dev")
    notes = train(settings, open_store(settings.store_uri))["notes"]
    assert any(n.startswith("feature 'price': its values are amounts") for n in notes)
    assert not any("'price': a different value" in n for n in notes)  # not an identifier


def test_a_bad_model_name_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, folder = _data(tmp_path / "d.csv"), tmp_path / "p"
    args = ["init", str(source), "--target", "label", "--dir", str(folder)]
    assert main([*args, "--name", "My Model"]) == 2
    assert "--name 'My Model' is not a model name" in capsys.readouterr().err
    assert not folder.exists()


def test_a_windows_csv_is_named_as_such_and_read_with_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel's "CSV" saved on Windows is Windows-1252: the error says so and how to read it,
    and `--encoding` writes the encoding where training reads it."""
    source, folder = tmp_path / "d.csv", tmp_path / "p"
    _data(tmp_path / "utf8.csv")
    text = (tmp_path / "utf8.csv").read_text().replace("pro", "prö")
    source.write_bytes(text.encode("cp1252"))
    args = ["init", str(source), "--target", "label", "--dir", str(folder)]
    assert main(args) == 2
    assert '"encoding": "cp1252"' in capsys.readouterr().err and not folder.exists()
    assert main([*args, "--encoding", "cp1252"]) == 0
    parser = json.loads((folder / "project_parser_config.json").read_text())
    assert parser["encoding"] == "cp1252"
    settings = load_settings(folder / "config.json", "dev")
    summary = train(settings, open_store(settings.store_uri))
    assert summary["promoted"] and "plan" in json.dumps(summary["features"])
    assert main([*args, "--encoding", "no-such-codec", "--force"]) == 2
    assert "unknown encoding 'no-such-codec'" in capsys.readouterr().err


def test_skip_lines_is_proposed_and_written_for_a_title_above_the_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, folder = tmp_path / "report.csv", tmp_path / "p"
    _data(tmp_path / "plain.csv")
    source.write_text("Customers by month\n\n" + (tmp_path / "plain.csv").read_text())
    args = ["init", str(source), "--target", "label", "--dir", str(folder)]
    assert main(args) == 2
    assert "(mlfn init: --skip-lines 2)" in capsys.readouterr().err and not folder.exists()
    assert main([*args, "--skip-lines", "2"]) == 0
    parser = json.loads((folder / "project_parser_config.json").read_text())
    assert parser["skip_lines"] == 2
    settings = load_settings(folder / "config.json", "dev")
    assert train(settings, open_store(settings.store_uri))["promoted"]
    with pytest.raises(SystemExit):
        main([*args, "--skip-lines", "-1", "--force"])
    assert "'-1' is not a number of lines" in capsys.readouterr().err


def test_constant_and_duplicate_columns_are_left_out_as_training_drops_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.read_csv(_data(tmp_path / "plain.csv"))
    frame["country"], frame["a_again"] = "FR", frame["a"]
    frame.to_csv(tmp_path / "d.csv", index=False)
    folder = tmp_path / "p"
    assert main(["init", str(tmp_path / "d.csv"), "--target", "label", "--dir", str(folder),
                 "--json"]) == 0  # fmt: skip
    config = json.loads((folder / "config.json").read_text())
    assert config["features"] == ["a", "plan"]
    left_out = json.loads(capsys.readouterr().out)["left_out"]
    assert left_out["country"].startswith("constant") and "'a'" in left_out["a_again"]


def test_a_second_header_line_is_named_with_the_lines_to_skip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sheet with merged group names above the column names exports two header lines."""
    plain = _data(tmp_path / "plain.csv").read_text()
    width = plain.splitlines()[0].count(",")
    for title, skipped in (("", 1), ("Customers\n", 2)):
        source = tmp_path / f"grouped{skipped}.csv"
        source.write_text(title + "group" + "," * width + "\n" + plain)
        args = ["init", str(source), "--target", "label", "--dir", str(tmp_path / "p"), "--force"]
        # with a title, its line skipped: the group line is still there
        assert main([*args, "--skip-lines", str(skipped - 1)]) == 2
        said = capsys.readouterr().err
        assert f"line {skipped + 1} holds the names ['label']" in said
        assert f"(mlfn init: --skip-lines {skipped})" in said
        assert main([*args, "--skip-lines", str(skipped)]) == 0
        settings = load_settings(tmp_path / "p" / "config.json", "dev")
        assert train(settings, open_store(settings.store_uri))["promoted"]
