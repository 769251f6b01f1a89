"""Columns read as categories whose values are amounts, percentages or dates as people
write them: GIVEN such a column WHEN a model is trained THEN the summary says that the model
sees categories, not amounts or dates, and how to write the values instead."""

from __future__ import annotations

import pandas as pd
import pytest

from core.config import ProjectConfig
from core.data.lookalikes import lookalike_note
from core.training.run import prepare_training


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["$1,200.50", "$3.99", "-$12", "($40.00)"], "amounts with a currency sign"),
        (["12,99 €", "1.299,00 €", "€5"], "amounts with a currency sign"),
        (["£7", "¥1200", "₹ 45,000"], "amounts with a currency sign"),
        (["45%", "3.5 %", "-2%", "100%"], "percentages"),
        (["26/02/2024", "03/01/2024", "1/7/24"], "dates written day or month first"),
        (["03.01.2024 12:30", "26-02-2024"], "dates written day or month first"),
    ],
)
def test_a_lookalike_column_is_noted_with_an_example_and_the_fix(values, kind) -> None:
    note = lookalike_note("x", pd.Series([*values, None, ""]))
    assert note is not None and note.startswith(f"feature 'x': its values are {kind}")
    assert repr(values[0]) in note
    assert "read as categories" in note
    assert ("ISO dates (2024-03-01)" if "dates" in kind else "plain numbers") in note


@pytest.mark.parametrize(
    "values",
    [
        ["red", "blue", "green"],
        ["$1,200.50", "call us", "$3.99"],  # one value is not an amount
        ["45%", "45"],
        ["A$1", "B$2"],  # codes that hold a sign
        ["2024-03-01", "2024-03-02"],  # ISO: read as dates anyway
        ["12/2024", "01/2025"],
        ["1.2.10", "2.0.1"],  # versions
        ["03/01-2024"],
        [],
    ],
)
def test_other_columns_are_not_noted(values) -> None:
    assert lookalike_note("x", pd.Series(values, dtype=object)) is None


def test_the_training_summary_notes_lookalikes_it_infers_as_categories() -> None:
    rows = 40
    frame = pd.DataFrame(
        {
            "price": [f"${10 + i}.50" for i in range(rows)],
            "discount": [f"{i % 7 * 5}%" for i in range(rows)],
            "code": [f"${i % 3}" for i in range(rows)],  # declared: the user knows
            "size": [i % 5 for i in range(rows)],
            "label": ["a", "b"] * (rows // 2),
        }
    )
    config = ProjectConfig.model_validate(
        {
            "model_name": "shop",
            "features": ["price", "discount", "code", "size"],
            "feature_types": {"code": "categorical"},
            "target": "label",
            "train_split": 0.75,
            "model_type": ["logistic_regression"],
            "promotion": {"dev": {"store": "file://unused"}},
        }
    )
    notes = prepare_training(config, frame).notes
    noted = sorted(note.split("'")[1] for note in notes if "its values are" in note)
    assert noted == ["discount", "price"], notes


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (["12", "40", "unknown", "33", "51", "18"], "'unknown'"),
        (
            ["1.5", "?", "2", "-", "3", "4", "5", "?", "6", "7", "8", "9", "10", "11", "12"],
            "'?', '-'",
        ),
    ],
)
def test_numbers_with_a_few_words_suggest_missing_values(values, words) -> None:
    note = lookalike_note("age", pd.Series(values))
    assert note is not None and note.startswith(f"feature 'age': numbers but for {words}")
    assert '"missing_values"' in note


@pytest.mark.parametrize(
    "values",
    [
        ["1", "a", "2", "b", "3", "c", "4", "d", "5", "6", "7", "8", "9", "10", "11", "12"],
        ["1", "x", "x", "x"],  # the words are most of the column: a category
    ],
)
def test_columns_of_many_or_mostly_words_are_not_placeholders(values) -> None:
    assert lookalike_note("x", pd.Series(values)) is None


def test_spelling_variants_of_classes_and_categories_are_noted() -> None:
    rows = 60
    frame = pd.DataFrame(
        {
            "city": (["Paris", "paris ", "PARIS", "Lyon"] * rows)[:rows],
            "size": list(range(rows)),
            "label": (["Yes", "yes", "No"] * rows)[:rows],
        }
    )
    config = ProjectConfig.model_validate(
        {
            "model_name": "shop",
            "features": ["city", "size"],
            "target": "label",
            "train_split": 0.75,
            "model_type": ["logistic_regression"],
            "promotion": {"dev": {"store": "file://unused"}},
        }
    )
    notes = prepare_training(config, frame).notes
    assert (
        "feature 'city': the categories 'PARIS', 'Paris', 'paris ' differ only in case or "
        "surrounding spaces and are kept apart; if each group is one value, write it one way "
        "in the data"
    ) in notes
    assert any(note.startswith("target 'label': the classes 'Yes', 'yes' differ") for note in notes)


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_missing_values_of_the_parser_config_are_missing_in_every_format(fmt, tmp_path) -> None:
    """`"missing_values": ["unknown", "?"]`: those cells are missing, as empty ones are, so
    the column is typed by its other values (numbers here)."""
    import io

    from core.config import ParserConfig
    from core.data.coerce import coerce_frame
    from core.data.ingest import parse_raw
    from core.data.sources import RawData

    frame = pd.DataFrame({"age": ["31", " unknown ", "?", "45"], "city": ["a", "b", "?", "c"]})
    if fmt == "csv":
        data = frame.to_csv(index=False).encode()
    elif fmt == "json":
        data = frame.to_json(orient="records").encode()
    else:
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        data = buffer.getvalue()
    raw = RawData(name="t", fmt=fmt, data=data, origin=f"t.{fmt}")
    parser = ParserConfig(missing_values=["unknown", "?"])
    typed = coerce_frame(parse_raw(raw, parser), {}, None)
    assert pd.api.types.is_numeric_dtype(typed["age"])
    assert typed["age"].isna().tolist() == [False, True, True, False]
    assert typed["city"].isna().tolist() == [False, False, True, False]
    plain = coerce_frame(parse_raw(raw, ParserConfig()), {}, None)
    assert not pd.api.types.is_numeric_dtype(plain["age"])  # without it: words in a column


def test_year_first_dates_with_slashes_are_noted() -> None:
    note = lookalike_note("when", pd.Series(["2024/03/01", "2023/12/31 10:30", "2024/1/5"]))
    assert note is not None and "dates written with slashes or dots, year first" in note
    assert "not as dates" in note and "2024-03-01" in note
