"""Fit each candidate pipeline on the training rows and score it on the held-out rows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import LOWER_IS_BETTER, FeatureType, ProjectConfig
from core.errors import ConfigError, TrainingError
from core.features import build_preprocessor
from core.models import SUPPORTS_CLASS_WEIGHT, TREE_MODELS, build_estimator
from core.progress import NULL_PROGRESS, Progress
from core.training.metrics import classification_metrics, regression_metrics

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray


@dataclass
class Candidate:
    model_type: str
    pipeline: Pipeline
    metrics: dict[str, float]
    params: dict[str, Any]
    fit_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def split_dataset(X: pd.DataFrame, y: np.ndarray, config: ProjectConfig) -> Split:
    """Stratified by class for classification, when every class has at least two rows."""
    from sklearn.model_selection import train_test_split

    stratify = None
    if config.task == "classification":
        _, counts = np.unique(y, return_counts=True)
        stratify = y if counts.min() >= 2 else None
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, train_size=config.train_split, random_state=config.random_seed, stratify=stratify
        )
    except ValueError as exc:
        raise TrainingError(
            f"train_split {config.train_split} cannot split {len(y)} rows: {exc}"
        ) from None
    return Split(X_train, X_test, np.asarray(y_train), np.asarray(y_test))


def oversample(X: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Random oversampling to the majority class size, for models without class weights."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    picks = [
        rng.choice(np.flatnonzero(y == cls), counts.max(), replace=count < counts.max())
        if count < counts.max()
        else np.flatnonzero(y == cls)
        for cls, count in zip(classes, counts, strict=True)
    ]
    index = np.sort(np.concatenate(picks))
    return X.iloc[index], y[index]


def score(pipeline: Any, X: pd.DataFrame, y: np.ndarray, task: str) -> dict[str, float]:
    predictions = pipeline.predict(X)
    if task == "classification":
        return classification_metrics(y, predictions, pipeline.predict_proba(X), pipeline.classes_)
    return regression_metrics(y, predictions)


def fit_candidate(
    model_type: str,
    types: dict[str, FeatureType],
    split: Split,
    config: ProjectConfig,
    params: dict[str, Any],
    progress: Progress = NULL_PROGRESS,
) -> Candidate:
    from sklearn.pipeline import Pipeline

    estimator = build_estimator(
        model_type, config.task, params, config.random_seed, config.class_balance
    )
    preprocessor = build_preprocessor(
        types, config.text_max_features, scale_numeric=model_type not in TREE_MODELS
    )
    pipeline = Pipeline([("preprocess", preprocessor), ("model", estimator)])
    X, y = split.X_train, split.y_train
    if (
        config.class_balance
        and config.task == "classification"
        and model_type not in SUPPORTS_CLASS_WEIGHT
    ):
        X, y = oversample(X, y, config.random_seed)
    fit_params: dict[str, Any] = {}
    if model_type == "neural_network":
        task_id = progress.start(f"{model_type} epochs", estimator.epochs)
        fit_params["model__epoch_callback"] = lambda epoch, total, loss: progress.advance(task_id)
    started = time.perf_counter()
    try:
        pipeline.fit(X, y, **fit_params)
    except (ValueError, TypeError) as exc:
        raise TrainingError(f"training {model_type} failed: {exc}") from exc
    seconds = time.perf_counter() - started
    metrics = score(pipeline, split.X_test, split.y_test, config.task)
    extra = {"epochs_run": estimator.n_epochs_} if model_type == "neural_network" else {}
    return Candidate(model_type, pipeline, metrics, estimator.get_params(), seconds, extra)


def best_candidate(candidates: list[Candidate], metric: str) -> Candidate:
    missing = [c.model_type for c in candidates if metric not in c.metrics]
    if missing:
        raise ConfigError(f"primary metric '{metric}' could not be computed for {missing}")
    pick = min if metric in LOWER_IS_BETTER else max
    return pick(candidates, key=lambda c: c.metrics[metric])
