"""Feature schema and the preprocessing pipeline (part of every exported model).

Numeric columns are imputed and scaled, categorical columns one-hot encoded (unknown categories
ignored), text columns TF-IDF encoded. Missing strings become "" before the pipeline, in
training and in serving alike, because ONNX's imputer does not handle strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.config import FeatureType, ProjectConfig
from core.schema import category_text

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.compose import ColumnTransformer

TEXT_MIN_AVERAGE_WORDS = 4.0
TEXT_MIN_UNIQUE_RATIO = 0.5


def infer_feature_types(frame: pd.DataFrame, config: ProjectConfig) -> dict[str, FeatureType]:
    """Each feature's type: as given in feature_types, else inferred from the column."""
    import pandas as pd

    types: dict[str, FeatureType] = {}
    for name in config.features:
        column = frame[name]
        if name in config.feature_types:
            types[name] = config.feature_types[name]
        elif pd.api.types.is_numeric_dtype(column):
            types[name] = "numeric"
        else:
            values = column.dropna().astype(str)
            words = values.str.split().str.len().mean() if len(values) else 0.0
            unique_ratio = values.nunique() / max(len(values), 1)
            is_text = words >= TEXT_MIN_AVERAGE_WORDS and unique_ratio >= TEXT_MIN_UNIQUE_RATIO
            types[name] = "text" if is_text else "categorical"
    return types


def feature_schema(types: dict[str, FeatureType]) -> list[dict[str, str]]:
    """The schema stored with a model and checked at serving time, in input order."""
    return [{"name": name, "type": kind} for name, kind in types.items()]


def prepare_frame(frame: pd.DataFrame, types: dict[str, FeatureType]) -> pd.DataFrame:
    """Cast columns to what the pipeline (and the ONNX graph) expects."""
    import pandas as pd

    prepared = pd.DataFrame(index=frame.index)
    for name, kind in types.items():
        if kind == "numeric":
            prepared[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        else:
            prepared[name] = [category_text(v) or "" for v in frame[name].astype(object)]
    return prepared


def build_preprocessor(
    types: dict[str, FeatureType], text_max_features: int, scale_numeric: bool = True
) -> ColumnTransformer:
    """Scaling is left out for tree models: they do not need it, and scaling in float64
    (scikit-learn) versus float32 (ONNX) moves values across split thresholds."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [name for name, kind in types.items() if kind == "numeric"]
    categorical = [name for name, kind in types.items() if kind == "categorical"]
    text = [name for name, kind in types.items() if kind == "text"]
    steps: list[tuple[str, Any, Any]] = []
    if numeric:
        numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if scale_numeric:
            numeric_steps.append(("scale", StandardScaler()))
        numeric_pipe = Pipeline(numeric_steps)
        steps.append(("numeric", numeric_pipe, numeric))
    if categorical:
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        steps.append(("categorical", encoder, categorical))
    for name in text:
        # A scalar column name hands the vectorizer a 1-D array of documents.
        steps.append((f"text_{name}", TfidfVectorizer(max_features=text_max_features), name))
    return ColumnTransformer(steps, sparse_threshold=0.0, verbose_feature_names_out=False)
