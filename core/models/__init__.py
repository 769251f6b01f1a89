"""Estimator factory: scikit-learn models and the torch MLP, by name and task."""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 1000},
    "linear_regression": {},
    # Capped leaves keep a forest servable from a function whatever the training size:
    # 100 trees x 2,048 leaves export to <= ~25 MB and answer one row in well under 1 ms.
    "random_forest": {"n_estimators": 100, "max_leaf_nodes": 2048},
    "gradient_boosting": {},
    "neural_network": {"hidden_size": 128, "epochs": 10, "batch_size": 32, "learning_rate": 0.001},
}
# Models whose constructor takes class_weight; the others get resampled training data.
SUPPORTS_CLASS_WEIGHT = frozenset({"logistic_regression", "random_forest", "neural_network"})
TREE_MODELS = frozenset({"random_forest", "gradient_boosting"})


def _sklearn_class(name: str, task: str) -> Any:
    from sklearn import ensemble, linear_model

    classes = {
        ("logistic_regression", "classification"): linear_model.LogisticRegression,
        ("linear_regression", "regression"): linear_model.LinearRegression,
        ("random_forest", "classification"): ensemble.RandomForestClassifier,
        ("random_forest", "regression"): ensemble.RandomForestRegressor,
        ("gradient_boosting", "classification"): ensemble.GradientBoostingClassifier,
        ("gradient_boosting", "regression"): ensemble.GradientBoostingRegressor,
    }
    if (name, task) not in classes:
        raise ConfigError(f"model_type '{name}' is not available for task '{task}'")
    return classes[(name, task)]


def build_estimator(
    name: str, task: str, params: dict[str, Any], seed: int, class_balance: bool = False
) -> Any:
    """A fresh, unfitted estimator; unknown parameters are a ConfigError naming them."""
    merged = {**DEFAULT_PARAMS.get(name, {}), **params}
    balanced = class_balance and task == "classification" and name in SUPPORTS_CLASS_WEIGHT
    if name == "neural_network":
        from core.models.torch_mlp import TorchMLP

        estimator_class: Any = TorchMLP
        merged = {"task": task, **merged}
    else:
        estimator_class = _sklearn_class(name, task)
    known = estimator_class().get_params()
    unknown = sorted(set(merged) - set(known))
    if unknown:
        raise ConfigError(
            f"training_params.{name}: unknown parameters {unknown} for {estimator_class.__name__}"
        )
    if "random_state" in known:
        merged.setdefault("random_state", seed)
    if balanced:
        merged["class_weight"] = "balanced"
    return estimator_class(**merged)
