"""GIVEN a delimited file as a spreadsheet saves it (semicolons and decimal commas, or
commas grouping thousands) WHEN it is ingested THEN its numbers are numbers: the same
dataset as the file written plainly; and marks that read two ways are never guessed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.config import ParserConfig
from core.data.coerce import coerce_frame
from core.data.ingest import ingest, parse_raw
from core.data.sources import RawData
from core.errors import ConfigError
from tests.conftest import EXAMPLES, load_settings, make_project, open_store

IRIS_CSV = EXAMPLES / "iris" / "iris.csv"


def _european(frame: pd.DataFrame) -> str:
    """The frame as a European spreadsheet saves it: ';' between fields, ',' for the point."""
    lines = [";".join(f'"{name}"' for name in frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append(";".join(str(value).replace(".", ",") for value in row))
    return "\r\n".join(lines) + "\r\n"


def _typed(text: str, decimal: str | None = None) -> pd.DataFrame:
    raw = RawData(name="t", fmt="csv", data=text.encode(), origin="t.csv")
    return coerce_frame(parse_raw(raw, ParserConfig(decimal=decimal)), {}, None)


def test_a_european_csv_gives_the_same_dataset_as_the_original(tmp_path: Path) -> None:
    settings = load_settings(make_project(tmp_path), env="dev")
    store = open_store(settings.store_uri)
    reference = ingest(settings, store)
    path = tmp_path / "iris-eu.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _european(pd.read_csv(IRIS_CSV)).encode())
    assert "5,1;3,5;1,4;0,2" in path.read_text()
    dataset = ingest(settings, store, str(path))
    assert dataset.sha256 == reference.sha256 and not dataset.created


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["5,1", "4,9", "", "-0,25"], [5.1, 4.9, None, -0.25]),  # missing stays missing
        (["0,123", "12"], [0.123, 12.0]),  # "0,123" groups nothing: a decimal
        (["1,5", "1234,5678", "7"], [1.5, 1234.5678, 7.0]),
    ],
)
def test_decimal_commas_are_read_as_numbers(values: list[str], expected: list) -> None:
    column = _typed("x;y\n" + "\n".join(f"{v};a" for v in values) + "\n")["x"]
    assert pd.api.types.is_float_dtype(column)
    got = [None if pd.isna(v) else round(float(v), 6) for v in column]
    assert got == expected


def test_a_comma_that_may_group_thousands_is_not_guessed() -> None:
    text = 'x;y\n"1,234";a\n"12,500";b\n'
    assert list(_typed(text)["x"]) == ["1,234", "12,500"]  # text, as written
    declared = _typed(text, decimal=",")["x"]
    assert list(declared) == [1.234, 12.5]


def test_declared_decimal_commas_may_group_thousands_with_dots() -> None:
    column = _typed("x;y\n1.234,5;a\n2,5;b\n1.000.000;c\n", decimal=",")["x"]
    assert list(column) == [1234.5, 2.5, 1_000_000.0]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1,234,567", "2,000", "12"], [1234567, 2000, 12]),  # two commas: grouping
        (["1,200.50", "3.00", "-7"], [1200.5, 3.0, -7.0]),  # a comma before a dot
    ],
)
def test_commas_grouping_thousands_are_read(values: list[str], expected: list) -> None:
    text = "x,y\n" + "".join(f'"{v}",a\n' for v in values)
    assert list(_typed(text)["x"]) == expected


def test_a_declared_decimal_point_reads_commas_as_grouping() -> None:
    text = 'x,y\n"1,234",a\n"12,500",b\n'
    assert list(_typed(text, decimal=".")["x"]) == [1234, 12500]


def test_a_leading_zero_keeps_the_column_as_written() -> None:
    """An identifier ("05,1") is kept exactly as written, like "02139"."""
    assert list(_typed("x;y\n05,1;a\n5,2;b\n")["x"]) == ["05,1", "5,2"]


def test_marks_that_read_both_ways_in_one_column_are_text() -> None:
    mixed = _typed('x,y\n"1,5",a\n"1,234,567",b\n')["x"]
    assert list(mixed) == ["1,5", "1,234,567"]


def test_a_declared_decimal_point_never_reads_a_comma_as_one_and_words_stay_text() -> None:
    assert list(_typed("x;y\n5,1;a\n4,9;b\n", decimal=".")["x"]) == ["5,1", "4,9"]
    mixed = _typed("x;y\n5,1;a\nabout 4,9;b\n")["x"]  # not every value a number: text
    assert list(mixed) == ["5,1", "about 4,9"]


def test_comma_separated_files_keep_their_quoted_decimal_commas_as_numbers() -> None:
    """A comma-separated file must quote a decimal comma; it reads the same."""
    assert list(_typed('x,y\n"5,1",a\n"4,9",b\n')["x"]) == [5.1, 4.9]


def test_a_wrong_decimal_mark_in_the_parser_config_is_named(tmp_path: Path) -> None:
    path = make_project(tmp_path)
    parser = path.parent / "project_parser_config.json"
    parser.write_text(json.dumps({**json.loads(parser.read_text()), "decimal": ";"}))
    with pytest.raises(ConfigError, match="decimal"):
        load_settings(path, env="dev")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["23\u00a0872,43", "608,83", "1\u202f234\u202f567,5"], [23872.43, 608.83, 1234567.5]),
        (["23 872,43", "-1 000", "12"], [23872.43, -1000.0, 12.0]),  # French, a plain space
        (["1'234.50", "987.25"], [1234.5, 987.25]),  # Swiss
        (["1 234 567", "89"], [1234567.0, 89.0]),  # no decimal: a space cannot be one
    ],
)
def test_thousands_grouped_by_spaces_or_apostrophes_are_numbers(
    values: list[str], expected: list
) -> None:
    column = _typed("x;y\n" + "\n".join(f"{v};a" for v in values) + "\n")["x"]
    assert pd.api.types.is_numeric_dtype(column), column
    assert [round(float(v), 6) for v in column] == expected


@pytest.mark.parametrize(
    "values",
    [["12 34", "5"], ["1 234", "two"], ["01 234", "5"], ["12 345 6", "1"]],
    ids=["groups-of-two", "a-word", "leading-zero", "short-group"],
)
def test_spaced_texts_that_are_not_grouped_numbers_stay_text(values: list[str]) -> None:
    column = _typed("x;y\n" + "\n".join(f"{v};a" for v in values) + "\n")["x"]
    assert not pd.api.types.is_numeric_dtype(column)
    assert list(column) == values
