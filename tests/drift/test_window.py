"""The prediction-log window: by time (across midnight) or by row count, typed or not, with
lines Arrow cannot type read the slow way, and every row's prediction id as /predict gave it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.drift.window import PREDICTION_ID, TIME, VERSION, Window, log_schema, read_window
from core.storage import Store, open_store

MIDNIGHT = datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)


def write(store: Store, at: datetime, rows: list[dict], version: int = 1, base: str = "ab") -> None:
    line = {"id": base, "request_id": "r", "time": at.isoformat(timespec="milliseconds"),
            "model_version": version, "latency_ms": 1.0, "inputs": rows,
            "outputs": {"predictions": ["yes"] * len(rows)}}  # fmt: skip
    key = f"logs/predictions/{at:%Y/%m/%d}/{at:%H%M%S}-{base}.jsonl"
    store.write_bytes(key, (json.dumps(line) + "\n").encode())


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = open_store(f"file://{tmp_path}")
    write(store, MIDNIGHT - timedelta(minutes=30), [{"x": 1.0}], base="old")  # 23:30 the day before
    write(store, MIDNIGHT - timedelta(seconds=20), [{"x": 2.0}, {"x": 3.0}], base="late")
    write(store, MIDNIGHT + timedelta(minutes=5), [{"x": 4.0}], version=2, base="new")
    return store


@pytest.mark.parametrize("typed", [True, False])
def test_a_time_window_across_midnight(store: Store, typed: bool) -> None:
    schema = log_schema({"x": "numeric"}, "classification") if typed else None
    window = Window(span=timedelta(minutes=10), end=MIDNIGHT + timedelta(minutes=6))
    frame = read_window(store, window, schema=schema)
    assert frame["x"].tolist() == [2.0, 3.0, 4.0]  # oldest first; 23:30 is outside
    assert frame[PREDICTION_ID].tolist() == ["late-0", "late-1", "new-0"]
    assert frame[VERSION].tolist() == [1, 1, 2]
    only_two = read_window(store, window, version=2, schema=schema)
    assert only_two["x"].tolist() == [4.0] and only_two[TIME].iloc[0].startswith("2026-12-01T00:05")


def test_the_last_n_rows(store: Store) -> None:
    frame = read_window(store, Window(rows=3, end=MIDNIGHT + timedelta(hours=1)))
    assert frame["x"].tolist() == [2.0, 3.0, 4.0]
    assert len(read_window(store, Window(rows=50, end=MIDNIGHT + timedelta(hours=1)))) == 4


def test_values_arrow_cannot_type_are_read_line_by_line(store: Store) -> None:
    write(store, MIDNIGHT + timedelta(minutes=7), [{"x": "four and a half"}], base="text")
    schema = log_schema({"x": "numeric"}, "classification")
    window = Window(span=timedelta(minutes=10), end=MIDNIGHT + timedelta(minutes=8))
    frame = read_window(store, window, schema=schema)
    assert frame["x"].tolist() == [2.0, 3.0, 4.0, "four and a half"]
    assert frame[PREDICTION_ID].tolist()[-1] == "text-0"


def test_a_window_starting_just_after_midnight_keeps_that_days_objects(store: Store) -> None:
    window = Window(span=timedelta(minutes=5), end=MIDNIGHT + timedelta(minutes=5, seconds=30))
    assert read_window(store, window)["x"].tolist() == [4.0]


def test_drift_run_looks_back_at_a_past_range(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`mlfn drift run --window 2h --end T`: that range's rows, reported but never the latest
    verdict and never a retraining; a bad window or time is one clear error."""
    from core.cli import main
    from core.config import load_settings
    from tests.conftest import make_project

    config = make_project(tmp_path, monitoring={"action": "retrain", "min_rows": 10})
    assert main(["train", "--config", str(config)]) == 0
    store = open_store(load_settings(config, "dev").store_uri)
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    for minute in range(12):  # twelve requests on 30 November around 18:00
        write(store, datetime(2026, 11, 30, 17, 50 + minute % 10, minute, tzinfo=UTC),
              [row], base=f"r{minute:02d}")  # fmt: skip
    capsys.readouterr()
    args = ["drift", "run", "--config", str(config), "--window", "2h",
            "--end", "2026-11-30T18:30", "--json"]  # fmt: skip
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["drift"]["rows"]["window"] == 12 and report["action"] == "alert"
    assert report["window"]["end"] == "2026-11-30T18:30:00+00:00"
    assert report["outcome"]["status"] in ("nothing to do", "alert")
    assert not store.exists("reports/drift/iris/latest.json")
    assert main([*args[:4], "--window", "soon"]) == 2
    assert "--window 'soon'" in capsys.readouterr().err
    assert main([*args[:6], "--end", "yesterday"]) == 2
    assert "is not a time" in capsys.readouterr().err
