"""Estimator factory: scikit-learn models and the torch MLP, by name and task."""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError, shown

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


# What an HTTP caller may set, per model type: (kind, smallest, largest). The largest is a
# ceiling a config may raise (`training_limits`); anything unlisted is refused.
PARAM_BOUNDS: dict[str, dict[str, tuple[str, float, float]]] = {
    "logistic_regression": {"max_iter": ("int", 1, 10_000), "C": ("float", 1e-6, 1e6)},
    "linear_regression": {},
    "random_forest": {
        "n_estimators": ("int", 1, 500),
        "max_depth": ("int", 1, 64),
        "max_leaf_nodes": ("int", 2, 16_384),
        "min_samples_leaf": ("int", 1, 100_000),
    },
    "gradient_boosting": {
        "n_estimators": ("int", 1, 500),
        "max_depth": ("int", 1, 16),
        "learning_rate": ("float", 1e-4, 1.0),
        "subsample": ("float", 0.05, 1.0),
    },
    "neural_network": {
        "epochs": ("int", 1, 200),
        "hidden_size": ("int", 1, 1024),
        "batch_size": ("int", 1, 8192),
        "learning_rate": ("float", 1e-6, 1.0),
        "patience": ("int", 1, 100),
    },
}


def check_caller_params(
    params: dict[str, Any], ceilings: dict[str, dict[str, float]] | None = None
) -> None:
    """Refuse parameters an HTTP caller may not set, or values out of bounds (ValueError
    naming the model type, the parameter and the allowed range)."""
    for model_type, values in params.items():
        bounds = PARAM_BOUNDS.get(model_type)
        if bounds is None or not isinstance(values, dict):
            raise ValueError(f"params.{model_type}: not a model type with parameters")
        for name, value in values.items():
            if name not in bounds:
                raise ValueError(
                    f"params.{model_type}.{name}: not settable over HTTP; allowed: {sorted(bounds)}"
                )
            kind, low, high = bounds[name]
            high = (ceilings or {}).get(model_type, {}).get(name, high)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or (kind == "int" and not float(value).is_integer()):
                raise ValueError(
                    f"params.{model_type}.{name}: must be an {kind}eger"
                    if kind == "int"
                    else f"params.{model_type}.{name}: must be a number"
                )
            if not low <= value <= high:
                raise ValueError(
                    f"params.{model_type}.{name}: {shown(value)} is outside [{low:g}, {high:g}]"
                )


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
            f"training_params.{name}: unknown parameters {unknown} for "
            f"{estimator_class.__name__}{_did_you_mean(unknown, known)}"
        )
    if "random_state" in known:
        merged.setdefault("random_state", seed)
    if balanced:
        merged["class_weight"] = "balanced"
    return estimator_class(**merged)


def _did_you_mean(unknown: list[str], known: dict[str, Any]) -> str:
    """ "; did you mean 'n_estimators'?" for the first unknown name close to a known one."""
    import difflib

    for name in unknown:
        close = difflib.get_close_matches(name, list(known), n=1)
        if close:
            return f"; did you mean '{close[0]}'?"
    return ""
