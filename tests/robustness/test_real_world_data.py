"""GIVEN datasets as users really have them (tests/robustness/datasets.py)
WHEN each goes through ingest -> train -> predict over HTTP, as a client sends rows
THEN a model is promoted, its held-out metric is within 0.02 of a plain scikit-learn
pipeline on the same split, and the served answers reproduce the model's own predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.api import create_app
from core.auth import mint_token
from core.config import load_settings
from core.data.ingest import ingest, load_dataset
from core.export.onnx_export import graph_predictions, onnx_feeds, run_graph
from core.features import prepare_frame
from core.featurespec import FeatureSpec
from core.registry import ONNX_FILE, ModelRegistry
from core.storage import open_store
from core.training.run import prepare_training, train
from tests.robustness.datasets import CASES, Case, client_rows, write
from tests.unit.test_api import local_services

SECRET = "robustness-secret-0123456789abcdef"
TOLERANCE = 0.02


def project(case: Case, folder: Path) -> Path:
    data = write(case, folder)
    config: dict[str, Any] = {
        "model_name": case.name.replace("_", "-"),
        "model_type": ["logistic_regression", "random_forest"],
        "features": case.features,
        "target": case.target,
        "train_split": 0.8,
        "training_params": {"random_forest": {"n_estimators": 50}},
        "data_source": str(data),
        "promotion": {"dev": {"store": f"file://{folder / 'store'}"}},
        **case.overrides,
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config, ensure_ascii=False))
    return path


def plain_pipeline_score(kept: pd.DataFrame, case: Case, data: Any) -> float:
    """The best primary metric of plain scikit-learn pipelines on the same split."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.metrics import f1_score, r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X = kept[case.features].copy()
    texts = [n for n, k in case.overrides.get("feature_types", {}).items() if k == "text"]
    numeric = [c for c in X if c not in texts and pd.api.types.is_numeric_dtype(X[c])]
    others = [c for c in X if c not in numeric and c not in texts]
    X[numeric] = X[numeric].astype("float64")
    X[others] = X[others].astype(str)
    steps = [
        ("n", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
        ("c", OneHotEncoder(handle_unknown="ignore"), others),
    ]
    steps += [(f"t{i}", TfidfVectorizer(), name) for i, name in enumerate(texts)]
    train_at, test_at = data.split.X_train.index, data.split.X_test.index
    y = data.split.y_train, data.split.y_test
    if case.task == "regression":
        models: list[Any] = [LinearRegression(), RandomForestRegressor(50, random_state=42)]
    else:
        models = [LogisticRegression(max_iter=1000), RandomForestClassifier(50, random_state=42)]
    scores = []
    for model in models:
        pipe = make_pipeline(ColumnTransformer(steps), model).fit(X.loc[train_at], y[0])
        predicted = pipe.predict(X.loc[test_at])
        scores.append(
            r2_score(y[1], predicted)
            if case.task == "regression"
            else f1_score(y[1], predicted, average="macro")
        )
    return max(scores)


def own_predictions(store: Any, settings: Any, summary: dict[str, Any]) -> list[Any]:
    """The registered model's predictions on its training rows, from the stored dataset."""
    registry = ModelRegistry(store, settings.config.model_name)
    metadata = registry.metadata(summary["version"])
    spec = FeatureSpec.of_version(metadata)
    frame = load_dataset(store, settings, summary["dataset"]["sha256"])
    outputs = run_graph(
        registry.read_file(summary["version"], ONNX_FILE, metadata),
        onnx_feeds(prepare_frame(frame, spec), spec),
    )
    classes = metadata["classes"]
    predicted, _ = graph_predictions(outputs, len(classes or []))
    return [classes[i] for i in predicted] if classes else predicted.tolist()


def served(settings: Any, store: Any, rows: list[dict[str, Any]]) -> list[Any]:
    services = local_services(settings, store, SECRET)
    headers = {"Authorization": f"Bearer {mint_token(SECRET, ['predict'])}"}
    answers: list[Any] = []
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        for start in range(0, len(rows), 2000):
            body = {"instances": rows[start : start + 2000]}
            answer = client.post("/predict", content=json.dumps(body), headers=headers)
            assert answer.status_code == 200, answer.text
            answers.extend(answer.json()["predictions"])
    return answers


@pytest.mark.parametrize("make_case", CASES, ids=[c.__name__ for c in CASES])
def test_ingest_train_predict(make_case: Any, tmp_path: Path) -> None:
    case = make_case()
    settings = load_settings(project(case, tmp_path), env="dev")
    store = open_store(settings.store_uri)
    dataset = ingest(settings, store)
    summary = train(settings, store, dataset=dataset)
    assert summary["promoted"], summary["reason"]
    assert summary["task"] == case.task and summary["parity"]["ok"]

    frame = load_dataset(store, settings, dataset.sha256)
    data = prepare_training(settings.config, frame)
    kept = frame.loc[np.flatnonzero(frame[case.target].notna().to_numpy())].reset_index(drop=True)
    if data.classes is not None:  # rows of a label seen once are left out of training
        keys = {json.dumps(c) for c in data.classes}
        kept = kept[
            [json.dumps(v.item() if hasattr(v, "item") else v) in keys for v in kept[case.target]]
        ].reset_index(drop=True)
    ours = summary["metrics"]["r2" if case.task == "regression" else "f1_macro"]
    baseline = plain_pipeline_score(kept, case, data)
    assert ours >= baseline - TOLERANCE, (ours, baseline)

    rows = [r for r, t in zip(client_rows(case), case.frame[case.target].notna(), strict=True) if t]
    expected = own_predictions(store, settings, summary)
    metadata = ModelRegistry(store, settings.config.model_name).metadata(summary["version"])
    # A wide model takes its numbers as one matrix (one input, not hundreds).
    assert metadata["float_block"] == (case.name == "wide_300")
    answers = served(settings, store, rows)
    if case.task == "regression":
        np.testing.assert_allclose(answers, expected, rtol=1e-6)
    else:
        assert answers == expected
        # Labels keep their JSON type: booleans stay booleans, integers integers.
        assert {type(a) for a in answers} == {case.label_type}


def test_original_names_in_models_and_openapi(tmp_path: Path) -> None:
    from tests.robustness.datasets import odd_names

    case = odd_names()
    settings = load_settings(project(case, tmp_path), env="dev")
    store = open_store(settings.store_uri)
    train(settings, store, model_types=["logistic_regression"])
    services = local_services(settings, store, SECRET)
    headers = {"Authorization": f"Bearer {mint_token(SECRET, ['predict'])}"}
    with TestClient(create_app(services), raise_server_exceptions=False) as client:
        schema = client.get("/openapi.json").json()
        body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
        example = body["example"]["instances"][0]
        assert list(example) == case.features
        assert client.post("/predict", json=body["example"], headers=headers).status_code == 200
        listed = client.get("/models", headers=headers).json()["versions"][0]["features"]
        assert [f["name"] for f in listed] == case.features
