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
