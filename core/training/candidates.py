"""Fit each candidate pipeline on the training rows and score it on the held-out rows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import ProjectConfig
from core.errors import TrainingError
from core.features import build_preprocessor, prepare_frame
from core.featurespec import FeatureSpec
from core.models import SUPPORTS_CLASS_WEIGHT, TREE_MODELS, build_estimator
from core.progress import NULL_PROGRESS, Progress
from core.training.metrics import classification_metrics, regression_metrics

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

FEW_HELD_OUT = 30  # fewer held-out rows than this: their metrics are noted as rough


@dataclass(frozen=True)
class Split:
    X_train: pd.DataFrame  # model inputs, named by input name (see core.featurespec)
    X_test: pd.DataFrame
    y_train: np.ndarray  # class indices (classification) or values
    y_test: np.ndarray
    raw_test: pd.DataFrame  # the held-out rows' original columns: other versions score them
    notes: tuple[str, ...] = ()

    def _noted(self, notes: list[str]) -> Split:
        return Split(
            self.X_train,
            self.X_test,
            self.y_train,
            self.y_test,
            self.raw_test,
            (*self.notes, *notes),
        )


@dataclass
class Candidate:
    model_type: str
    pipeline: Pipeline
    metrics: dict[str, float]  # on the held-out rows, set when exported (core.training.select)
    params: dict[str, Any]
    fit_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


def split_dataset(
    raw: pd.DataFrame, y: np.ndarray, spec: FeatureSpec, config: ProjectConfig
) -> Split:
    """Stratified by class for classification; plain when the held-out share is too small
    to hold every class once (said in the notes)."""
    index = np.arange(len(y))
    notes: list[str] = []
    stratify = y if config.task == "classification" else None
    try:
        train_at, test_at = _split_rows(index, config, stratify)
    except ValueError as exc:
        if stratify is None:
            raise TrainingError(
                f"train_split {config.train_split} cannot split {len(y)} rows: {exc}"
            ) from None
        notes.append(f"split not stratified by class: {exc}")
        plain = split_dataset(raw, y, spec, config.model_copy(update={"task": None}))
        return _every_class_learnt(plain, y)._noted(notes)
    if len(test_at) < FEW_HELD_OUT:
        notes.append(
            f"only {len(test_at)} rows are held out to score the candidates (train_split "
            f"{config.train_split} of {len(index)} rows): their metrics, the choice between "
            "them and the comparison with the champion rest on those rows alone; more data "
            "makes them steadier"
        )
    prepared = prepare_frame(raw, spec)
    return Split(
        prepared.iloc[train_at],
        prepared.iloc[test_at],
        y[train_at],
        y[test_at],
        raw.iloc[test_at],
        tuple(notes),
    )


def _every_class_learnt(split: Split, y: np.ndarray) -> Split:
    """A plain split with one row of each class that only the held-out part had moved to the
    training part: a model must learn every class it is scored on (and its graph answers
    for every class the metadata names; one it never saw failed the export)."""
    import pandas as pd

    unseen = set(np.unique(split.y_test).tolist()) - set(np.unique(split.y_train).tolist())
    if not unseen:
        return split
    moved = np.zeros(len(split.y_test), dtype=bool)
    for label in unseen:
        moved[np.flatnonzero(split.y_test == label)[0]] = True
    return Split(
        pd.concat([split.X_train, split.X_test[moved]]),
        split.X_test[~moved],
        np.concatenate([split.y_train, split.y_test[moved]]),
        split.y_test[~moved],
        split.raw_test[~moved],
        split.notes,
    )


def _split_rows(
    index: np.ndarray, config: ProjectConfig, stratify: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    train_at, test_at = train_test_split(
        index, train_size=config.train_split, random_state=config.random_seed, stratify=stratify
    )
    return np.asarray(train_at), np.asarray(test_at)


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
    """The native pipeline's metrics: a candidate's when its graph lacks parity (else the
    graph's own, core.training.select)."""
    predictions = pipeline.predict(X)
    if task == "classification":
        return classification_metrics(y, predictions, pipeline.predict_proba(X), pipeline.classes_)
    return regression_metrics(y, predictions)


def fit_candidate(
    model_type: str,
    spec: FeatureSpec,
    split: Split,
    config: ProjectConfig,
    params: dict[str, Any],
    progress: Progress = NULL_PROGRESS,
) -> Candidate:
    from sklearn.pipeline import Pipeline

    task = config.resolved_task
    estimator = build_estimator(model_type, task, params, config.random_seed, config.class_balance)
    preprocessor = build_preprocessor(
        spec, config.text_max_features, scale_numeric=model_type not in TREE_MODELS
    )
    pipeline = Pipeline([("preprocess", preprocessor), ("model", estimator)])
    X, y = split.X_train, split.y_train
    if (
        config.class_balance
        and task == "classification"
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
    extra = {"epochs_run": estimator.n_epochs_} if model_type == "neural_network" else {}
    return Candidate(model_type, pipeline, {}, estimator.get_params(), seconds, extra)
