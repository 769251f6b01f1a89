"""A spreadsheet's "Total" / "Average" rows below the data: found only when labelled as such
and holding a sum or mean of the rows above (or no number at all); left out at ingest with a
note, kept on request, and never taken for a real last row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.config import load_settings
from core.data.ingest import ingest, latest_dataset, load_dataset
from core.data.summary_rows import summary_rows, without_summary_rows
from core.storage import open_store
from core.training.run import train
from tests.conftest import data_project


def _sales(rows: int = 120, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units = rng.integers(1, 50, rows)
    price = rng.uniform(1, 10, rows).round(2)
    return pd.DataFrame({
        "region": rng.choice(["North", "South", "East"], rows),
        "units": units.astype(str),
        "price": price.astype(str),
        "y": (units * price + rng.normal(0, 2, rows)).round(2).astype(str),
    })  # fmt: skip


def _with(frame: pd.DataFrame, *rows: dict[str, str]) -> pd.DataFrame:
    return pd.concat([frame, pd.DataFrame(list(rows))], ignore_index=True)


def _total(frame: pd.DataFrame, column: str = "y", how: str = "sum") -> str:
    figure = getattr(frame[column].astype(float), how)()
    return f"{figure:.2f}"


def test_a_labelled_sum_of_a_column_is_a_summary_row() -> None:
    data = _sales()
    frame = _with(data, {"region": "Total", "y": _total(data)})
    found = summary_rows(frame)
    assert [(r.position, r.label, r.column, r.kind) for r in found] == [
        (len(data), "Total", "y", "sum")
    ]
    kept, described = without_summary_rows(frame)
    assert (
        len(kept) == len(data) and "'Total' (row 121 of the data, its 'y' the sum" in described[0]
    )


def test_a_block_of_total_and_average_with_labels_in_any_case_and_language() -> None:
    data = _sales()
    frame = _with(
        data,
        {"region": "GRAND TOTAL:", "units": _total(data, "units"), "y": _total(data)},
        {"region": "Durchschnitt", "price": _total(data, "price", "mean")},
        {"region": "Sum"},  # a label and no number: nothing to learn from either
    )
    found = summary_rows(frame)
    assert [r.label for r in found] == ["GRAND TOTAL:", "Durchschnitt", "Sum"]
    assert [r.kind for r in found] == ["sum", "mean", None]


REAL_LAST_ROWS = {
    "a region called Total": lambda data: {"region": "Total", "units": "3", "y": "7.5"},
    "the sum, but no label": lambda data: {"region": "West", "y": _total(data)},
    "a word that starts with one": lambda data: {"region": "Totally", "y": _total(data)},
}


@pytest.mark.parametrize("case", list(REAL_LAST_ROWS))
def test_a_real_last_row_is_never_taken_for_a_summary(case: str) -> None:
    data = _sales()
    assert summary_rows(_with(data, REAL_LAST_ROWS[case](data))) == []


def test_a_labelled_row_above_a_data_row_is_data() -> None:
    data = _sales()
    frame = _with(data, {"region": "Total", "y": _total(data)}, {"region": "East", "y": "1"})
    assert summary_rows(frame) == []
    assert summary_rows(data.head(1).assign(region="Total")) == []  # never the only row


def test_ingest_leaves_the_total_out_with_a_note_and_keep_keeps_it(tmp_path: Path) -> None:
    data = _sales()
    source = tmp_path / "sales.csv"
    _with(data, {"region": "Total", "y": _total(data)}).to_csv(source, index=False)
    settings, store = data_project(tmp_path / "a", ["region", "units", "price"], source)
    dataset = ingest(settings, store, remember=True)
    assert dataset.rows == len(data) and len(dataset.summary_rows) == 1
    assert "Total" not in set(load_dataset(store, settings, dataset.sha256)["region"])
    assert latest_dataset(settings, store).summary_rows == dataset.summary_rows  # type: ignore[union-attr]
    settings, store = data_project(
        tmp_path / "b", ["region", "units", "price"], source, summary_rows="keep"
    )
    kept = ingest(settings, store)
    assert kept.rows == len(data) + 1 and kept.summary_rows == ()


def test_training_says_what_it_left_out(tmp_path: Path) -> None:
    data = _sales()
    source = tmp_path / "sales.csv"
    _with(data, {"region": "Total", "y": _total(data)}).to_csv(source, index=False)
    path = data_project(tmp_path, ["region", "units", "price"], source)[0].config_path
    config = json.loads(path.read_text())
    config.update(task="regression", model_type=["linear_regression"])
    (tmp_path / "config.json").write_text(json.dumps(config))
    settings = load_settings(tmp_path / "config.json", "dev")
    summary = train(settings, open_store(settings.store_uri))
    assert summary["dataset"]["rows"] == len(data)
    assert any("'Total' (row 121 of the data" in note for note in summary["notes"])


def test_init_counts_and_types_without_the_total(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _sales()
    source = tmp_path / "sales.csv"
    _with(data, {"region": "Total", "units": "", "y": _total(data)}).to_csv(source, index=False)
    args = ["init", str(source), "--target", "y", "--dir", str(tmp_path / "p")]
    assert main([*args, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["rows"] == len(data) and len(answer["summary_rows"]) == 1
    assert main([*args, "--force"]) == 0
    assert "ends with a spreadsheet's summary" in capsys.readouterr().out
