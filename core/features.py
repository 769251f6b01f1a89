"""Build the feature specification from a dataset, encode frames with it, and the
preprocessing pipeline that is part of every exported model.

Numeric, boolean and date-part inputs are imputed (and scaled for non-tree models),
categorical inputs one-hot encoded over their kept categories (rarer ones pooled into none),
text inputs TF-IDF encoded after `featurespec.normalize_text`. Every value conversion goes
through `core.featurespec`, the same code the predict path runs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import ProjectConfig
from core.errors import DataError
from core.featurespec import (
    BOOLEAN_CATEGORIES,
    ENCODING_OF,
    FLOAT_BLOCK_MIN_INPUTS,
    ColumnSpec,
    FeatureSpec,
    encode_column,
    encode_numeric_block,
    input_names,
)

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.compose import ColumnTransformer

TEXT_MIN_AVERAGE_WORDS = 4.0
TEXT_MIN_UNIQUE_RATIO = 0.5
PROBE_ROWS = 64  # rows sampled to find duplicate columns (then compared in full)
ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?"
)


def infer_kind(column: pd.Series) -> str:
    """numeric, boolean, datetime, categorical or text, from a column's values."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column):
        return "boolean"
    if pd.api.types.is_numeric_dtype(column):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "datetime"
    values = column.dropna().astype(str)
    if len(values) and values.str.fullmatch(ISO_DATE).all():
        return "datetime"
    words = values.str.split().str.len().mean() if len(values) else 0.0
    unique_ratio = values.nunique() / max(len(values), 1)
    is_text = words >= TEXT_MIN_AVERAGE_WORDS and unique_ratio >= TEXT_MIN_UNIQUE_RATIO
    return "text" if is_text else "categorical"


def _probe_key(column: pd.Series) -> tuple[str, bytes]:
    """Equal for equal columns, and cheap: the dtype and the hashes of a fixed sample of
    rows (a full column's hash cost more than the rest of the feature specification)."""
    import pandas as pd

    at = np.linspace(0, len(column) - 1, num=min(len(column), PROBE_ROWS), dtype=np.int64)
    sample = column.iloc[at]
    return str(column.dtype), pd.util.hash_pandas_object(sample, index=False).to_numpy().tobytes()


def _constant(column: pd.Series) -> bool:
    """One value in every row, missing counted as a value (as `nunique(dropna=False) <= 1`,
    without hashing the column: one comparison with its first value)."""
    import pandas as pd

    if len(column) == 0:
        return True
    first = column.iloc[0]
    if pd.api.types.is_scalar(first) and pd.isna(first):
        return bool(column.isna().all())
    try:
        return bool((column == first).all())
    except (TypeError, ValueError):  # values that do not compare: hash them, as before
        pass
    try:
        return bool(column.nunique(dropna=False) <= 1)
    except TypeError:  # nor hash: not known to be constant
        return False


def useless_columns(frame: pd.DataFrame, names: list[str]) -> dict[str, str]:
    """Constant columns and exact duplicates of an earlier column, with the reason."""
    dropped: dict[str, str] = {}
    seen: dict[tuple[str, bytes], list[str]] = {}  # probe -> the kept columns with it
    for name in names:
        column = frame[name]
        if _constant(column):
            dropped[name] = "constant: a single value in every row"
            continue
        alike = seen.setdefault(_probe_key(column), [])
        original = next((kept for kept in alike if frame[kept].equals(column)), None)
        if original is not None:
            dropped[name] = f"duplicate of '{original}'"
            continue
        alike.append(name)
    return dropped


def kept_categories(column: pd.Series, cap: int) -> tuple[str, ...]:
    """The `cap` most frequent categories (ties by value), as the model will see them."""
    import pandas as pd

    encoded = pd.Series(encode_column(_probe("categorical"), column.to_numpy(object))["x"])
    counts = encoded[encoded != ""].value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(sorted(value for value, _ in ranked[:cap]))


def _probe(kind: str) -> ColumnSpec:
    return ColumnSpec(name="x", input="x", kind=kind)


def build_feature_spec(frame: pd.DataFrame, config: ProjectConfig) -> FeatureSpec:
    """The feature specification of a dataset under a config: types as given in
    feature_types, else inferred; constant and duplicate columns dropped with a note."""
    dropped = useless_columns(
        frame, [name for name in config.features if name not in config.feature_types]
    )
    names = [name for name in config.features if name not in dropped]
    if not names:
        raise DataError(f"no usable feature is left: {dropped}")
    columns = []
    for name, input_name in zip(names, input_names(names), strict=True):
        kind = config.feature_types.get(name) or infer_kind(frame[name])
        categories = (
            kept_categories(frame[name], config.max_categories) if kind == "categorical" else None
        )
        encoding = ENCODING_OF[kind]
        if categories is not None and frame[name].nunique() > len(categories):
            encoding = f"one_hot_top_{config.max_categories}"
        columns.append(ColumnSpec(name, input_name, kind, encoding, categories))
    spec = FeatureSpec(tuple(columns), dropped)
    wide = len(spec.float_inputs) >= FLOAT_BLOCK_MIN_INPUTS
    return FeatureSpec(spec.columns, dropped, float_block=wide)


def column_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    import pandas as pd

    column = frame[name]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    return column.to_numpy(dtype=object, na_value=None)


def prepare_frame(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The model's inputs for a frame of original columns, named by input name. Numeric
    columns stored as numbers go through `encode_numeric_block` together (wide data)."""
    import pandas as pd

    stored_numeric = [
        c
        for c in spec.columns
        if c.kind == "numeric"
        and pd.api.types.is_numeric_dtype(frame[c.name])
        and not pd.api.types.is_bool_dtype(frame[c.name])
    ]
    parts: list[pd.DataFrame] = []
    if stored_numeric:
        matrix = frame[[c.name for c in stored_numeric]].to_numpy(dtype="float64", na_value=np.nan)
        block = encode_numeric_block([c.name for c in stored_numeric], matrix)
        parts.append(
            pd.DataFrame(block, columns=[c.input for c in stored_numeric], index=frame.index)
        )
    data: dict[str, np.ndarray] = {}
    for column in spec.columns:
        if column not in stored_numeric:
            data.update(encode_column(column, column_values(frame, column.name)))
    parts.append(pd.DataFrame(data, index=frame.index))
    order = [name for name, _ in spec.model_inputs]
    return pd.concat(parts, axis=1)[order]


def build_preprocessor(
    spec: FeatureSpec, text_max_features: int, scale_numeric: bool = True
) -> ColumnTransformer:
    """Scaling is left out for tree models: they do not need it, and scaling in float64
    (scikit-learn) versus float32 (ONNX) moves values across split thresholds."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [name for name, dtype in spec.model_inputs if dtype == "float"]
    categorical = [c for c in spec.columns if c.kind in ("categorical", "boolean")]
    steps: list[tuple[str, Any, Any]] = []
    if numeric:
        numeric_steps: list[tuple[str, Any]] = [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True))
        ]
        if scale_numeric:
            numeric_steps.append(("scale", StandardScaler()))
        steps.append(("numeric", Pipeline(numeric_steps), numeric))
    if categorical:
        encoder = OneHotEncoder(
            categories=[list(c.categories or BOOLEAN_CATEGORIES) for c in categorical],
            handle_unknown="ignore",
            sparse_output=False,
        )
        steps.append(("categorical", encoder, [c.input for c in categorical]))
    for column in spec.columns:
        if column.kind == "text":
            # A scalar column name hands the vectorizer a 1-D array of documents; the text is
            # already lower-cased by normalize_text, identically for the exported graph.
            vectorizer = TfidfVectorizer(max_features=text_max_features, lowercase=False)
            steps.append((f"text_{column.input}", vectorizer, column.input))
    return ColumnTransformer(steps, sparse_threshold=0.0, verbose_feature_names_out=False)
