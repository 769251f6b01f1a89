"""Metrics on held-out rows, and which of two scores is better."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.config import LOWER_IS_BETTER


def classification_metrics(y_true: Any, y_pred: Any, proba: Any, classes: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }
    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) == len(classes):  # AUC needs every class in the held-out rows
        if len(classes) == 2:
            auc = roc_auc_score(y_true == classes[1], proba[:, 1])
        else:
            auc = roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
        metrics["roc_auc"] = float(auc)
    return metrics


def coded_classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, n_classes: int
) -> dict[str, float]:
    """`classification_metrics` for labels coded as numbers (classes 0..n_classes-1, a
    true label the model does not know coded past them), in numpy: scikit-learn's checks
    cost more than the arithmetic on a held-out set. AUC only when the true labels are
    exactly the classes (binary: the second class's; else one-vs-rest, macro)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    labels = np.union1d(y_true, y_pred)  # as f1_score's: every label seen on either side
    true_sum = np.bincount(np.searchsorted(labels, y_true), minlength=len(labels))
    pred_sum = np.bincount(np.searchsorted(labels, y_pred), minlength=len(labels))
    hits = y_true[y_true == y_pred]
    tp_sum = np.bincount(np.searchsorted(labels, hits), minlength=len(labels))
    denominator = true_sum + pred_sum  # never 0: each label occurs on one side at least
    metrics = {
        "accuracy": float(len(hits) / len(y_true)),
        "f1_macro": float(np.mean(2 * tp_sum / denominator)),
    }
    present = np.unique(y_true)
    if proba is not None and np.array_equal(present, np.arange(n_classes)) and n_classes > 1:
        targets = [1] if n_classes == 2 else range(n_classes)
        aucs = [rank_auc(y_true == target, proba[:, target]) for target in targets]
        metrics["roc_auc"] = float(np.mean(aucs))
    return metrics


def rank_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """The area under the ROC curve as the Mann-Whitney statistic (ties count one half):
    the trapezoids of roc_auc_score's curve, from the scores' average ranks."""
    from scipy.stats import rankdata

    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    rank_sum = float(ranks[positive].sum())
    return (rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }


def is_better(metric: str, new: float, old: float, min_improvement: float = 0.0) -> bool:
    """Strictly better by more than min_improvement; a tie keeps the champion."""
    if metric in LOWER_IS_BETTER:
        return new < old - min_improvement
    return new > old + min_improvement
