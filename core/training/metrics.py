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
