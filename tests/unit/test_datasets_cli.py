"""`mlfn datasets` lists the dataset versions a store holds, newest first, and `mlfn datasets
diff A B` tells what changed between two of them (rows, columns, types, source)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.cli import main
from tests.conftest import make_project


def test_datasets_are_listed_and_compared(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = str(make_project(tmp_path))
    assert main(["ingest", "--config", config, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["sha256"]
    iris = pd.read_csv(Path(__file__).parents[2] / "examples" / "iris" / "iris.csv")
    smaller = tmp_path / "smaller.csv"
    iris.head(100).to_csv(smaller, index=False)
    assert main(["ingest", "--config", config, "--source", str(smaller), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)["sha256"]

    assert main(["datasets", "--config", config, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [d["sha256"] for d in listed] == [second, first]  # newest first
    assert [d["rows"] for d in listed] == [100, 150] and listed[0]["source"] == str(smaller)

    assert main(["datasets", "--config", config]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["dataset", "rows", "columns", "source", "ingested"]
    assert table[2].startswith(second[:12]) and table[3].startswith(first[:12])

    assert main(["datasets", "diff", first[:8], second, "--config", config, "--json"]) == 0
    change = json.loads(capsys.readouterr().out)
    assert change["rows"] == {"a": 150, "b": 100, "change": -50}
    assert change["columns_added"] == change["columns_removed"] == []
    assert change["source"]["b"] == str(smaller)
    assert main(["datasets", "diff", first[:8], second[:8], "--config", config]) == 0
    text = capsys.readouterr().out
    assert "rows       150 → 100 (-50)" in text and "source" in text


@pytest.mark.parametrize(
    ("name", "message"),
    [("zz", "is not a dataset id"), ("abcdef", "no dataset abcdef"),
     ("12345", "first 6+ hex characters")],
)  # fmt: skip
def test_a_wrong_dataset_name_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, name: str, message: str
) -> None:
    config = str(make_project(tmp_path))
    assert main(["ingest", "--config", config]) == 0
    capsys.readouterr()
    assert main(["datasets", "diff", name, name, "--config", config]) == 2
    assert message in capsys.readouterr().err


def test_type_changes_are_named() -> None:
    from core.data.versions import diff_datasets

    a = {"sha256": "a" * 64, "rows": 3, "columns": {"x": "float64", "y": "object"}}
    b = {"sha256": "b" * 64, "rows": 3, "columns": {"x": "int64", "z": "bool"}}
    change = diff_datasets(a, b)
    assert change["types_changed"] == {"x": {"a": "float64", "b": "int64"}}
    assert change["columns_added"] == ["z"] and change["columns_removed"] == ["y"]
