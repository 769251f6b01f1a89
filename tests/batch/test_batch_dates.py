"""Date columns in a batch's input — GIVEN a CSV whose dates Arrow reads as a date column,
or Parquet's date32, timestamp and nanosecond values WHEN encoded THEN each scores as its
ISO text does, and no row is rejected for being a date."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from core.batch.encode import encode_table
from core.featurespec import ColumnSpec, FeatureSpec, parse_datetime

SPEC = FeatureSpec((ColumnSpec("when", "when", "datetime"),), {})
DAYS = ["2024-02-01", "2024-02-29", None]


def _feeds(column: pa.Array) -> dict[str, np.ndarray]:
    feeds, keep, reasons = encode_table(SPEC, pa.table({"when": column}))
    assert reasons == {} and keep.all()
    return feeds


@pytest.mark.parametrize(
    "column",
    [
        pa.array([dt.date(2024, 2, 1), dt.date(2024, 2, 29), None], pa.date32()),
        pa.array([dt.datetime(2024, 2, 1), dt.datetime(2024, 2, 29), None], pa.timestamp("ns")),
        pcsv.read_csv(pa.BufferReader(b"when,x\n2024-02-01,1\n2024-02-29,2\n,3\n")).column("when"),
    ],
    ids=["date32", "timestamp-ns", "csv-of-dates"],
)
def test_date_columns_score_as_their_iso_text(column: pa.Array) -> None:
    expected = _feeds(pa.array(DAYS, pa.string()))
    got = _feeds(column if isinstance(column, pa.Array) else column.combine_chunks())
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def test_numpy_and_python_dates_parse() -> None:
    noon = dt.datetime(2024, 2, 1, 12, tzinfo=dt.UTC)
    assert parse_datetime(np.datetime64("2024-02-01T12:00:00.000000000")) == noon
    assert parse_datetime(np.datetime64("NaT")) is None
    assert parse_datetime(dt.date(2024, 2, 1)) == noon.replace(hour=0)
