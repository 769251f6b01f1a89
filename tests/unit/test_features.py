"""Feature types are inferred unless given; categories read alike in training and serving."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.config import load_project_config
from core.features import build_preprocessor, infer_feature_types, prepare_frame
from core.schema import category_text
from tests.conftest import EXAMPLES


def test_types_inferred_unless_given() -> None:
    config = load_project_config(EXAMPLES / "products" / "config.json")
    frame = pd.read_csv(EXAMPLES / "products" / "products.csv")
    types = infer_feature_types(frame, config)
    assert types == {
        "title": "categorical",
        "description": "text",
        "category": "categorical",
        "price": "numeric",
        "rating": "numeric",
    }
    # Without the hints, long varied strings are text and short repeated ones categorical.
    unhinted = config.model_copy(update={"feature_types": {}})
    inferred = infer_feature_types(frame, unhinted)
    assert inferred["description"] == "text" and inferred["category"] == "categorical"


def test_prepare_frame_casts_and_fills() -> None:
    frame = pd.DataFrame({"n": ["1.5", None], "c": [2.0, np.nan], "t": ["Some text", None]})
    prepared = prepare_frame(frame, {"n": "numeric", "c": "categorical", "t": "text"})
    assert prepared["n"].iloc[0] == 1.5 and math.isnan(prepared["n"].iloc[1])
    assert list(prepared["c"]) == ["2", ""]
    assert list(prepared["t"]) == ["Some text", ""]


def test_category_text_is_one_rule_for_training_and_serving() -> None:
    assert category_text(2) == category_text(2.0) == category_text(np.float64(2.0)) == "2"
    assert category_text(np.int64(3)) == "3"
    assert category_text(2.5) == "2.5"
    assert category_text(None) == "" and category_text(float("nan")) == ""
    assert category_text(True) is None and category_text([1]) is None


def test_unknown_categories_are_ignored() -> None:
    types = {"colour": "categorical", "size": "numeric"}
    frame = pd.DataFrame({"colour": ["red", "blue"], "size": [1.0, 2.0]})
    encoded = (
        build_preprocessor(types, 10)
        .fit(frame)
        .transform(pd.DataFrame({"colour": ["green"], "size": [1.5]}))
    )
    assert encoded.shape == (1, 3)
    assert list(encoded[0, 1:]) == [0.0, 0.0]  # no column lights up for an unseen colour


def test_tree_models_get_unscaled_numbers() -> None:
    types = {"size": "numeric"}
    frame = pd.DataFrame({"size": [1.0, 3.0, None]})
    unscaled = build_preprocessor(types, 10, scale_numeric=False).fit_transform(frame)
    assert list(unscaled[:, 0]) == [1.0, 3.0, 2.0]  # median-imputed only
    scaled = build_preprocessor(types, 10).fit_transform(frame)
    assert abs(scaled[:, 0].mean()) < 1e-9
