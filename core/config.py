"""Project configuration: config.json and project_parser_config.json, validated with pydantic.

Errors name the file, the field and what was expected. MLFN_CONFIG, MLFN_ENV and MLFN_STORE
override the file's choices.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from core import constants
from core.errors import ConfigError

Task = Literal["classification", "regression"]
FeatureType = Literal["numeric", "categorical", "text"]
ModelType = Literal[
    "logistic_regression",
    "linear_regression",
    "random_forest",
    "gradient_boosting",
    "neural_network",
]
Environment = Literal["dev", "qa", "staging", "prod"]
M = TypeVar("M", bound=BaseModel)

LINEAR_MODEL_BY_TASK = {"classification": "logistic_regression", "regression": "linear_regression"}
METRICS_BY_TASK = {
    "classification": ("accuracy", "f1_macro", "roc_auc"),
    "regression": ("rmse", "mae", "r2"),
}
DEFAULT_PRIMARY_METRIC = {"classification": "f1_macro", "regression": "rmse"}
LOWER_IS_BETTER = frozenset({"rmse", "mae"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EnvironmentConfig(_Strict):
    store: str = Field(pattern=r"^(file|s3|gs|az)://.+")
    raw_path: str = "data/raw/"
    processed_path: str = "data/processed/"
    aws: dict[str, Any] = Field(default_factory=dict)
    gcp: dict[str, Any] = Field(default_factory=dict)
    azure: dict[str, Any] = Field(default_factory=dict)


class ProjectConfig(_Strict):
    model_name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    task: Task
    cloud_vendor: Literal["local", "aws", "gcp", "azure"] = "local"
    model_type: list[ModelType] = Field(min_length=1)
    features: list[str] = Field(min_length=1)
    feature_types: dict[str, FeatureType] = Field(default_factory=dict)
    target: str = Field(min_length=1)
    train_split: float = Field(gt=0.0, lt=1.0)
    training_params: dict[ModelType, dict[str, Any]] = Field(default_factory=dict)
    data_source: str = Field(min_length=1)
    promotion: dict[Environment, EnvironmentConfig] = Field(min_length=1)
    primary_metric: str | None = None
    min_improvement: float = Field(default=0.0, ge=0.0)
    class_balance: bool = False
    text_max_features: int = Field(default=500, ge=1)
    random_seed: int = constants.RANDOM_SEED
    parser_config: str | None = None

    @field_validator("model_type", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> ProjectConfig:
        if len(set(self.features)) != len(self.features):
            raise ValueError("features: each feature may appear only once")
        if self.target in self.features:
            raise ValueError(f"target '{self.target}' must not also be a feature")
        unknown = sorted(set(self.feature_types) - set(self.features))
        if unknown:
            raise ValueError(f"feature_types names columns that are not features: {unknown}")
        wrong_linear = {"classification": "linear_regression", "regression": "logistic_regression"}
        if wrong_linear[self.task] in self.model_type:
            raise ValueError(
                f"model_type '{wrong_linear[self.task]}' does not fit task '{self.task}'; "
                f"use '{LINEAR_MODEL_BY_TASK[self.task]}'"
            )
        metric = self.primary_metric
        if metric is not None and metric not in METRICS_BY_TASK[self.task]:
            raise ValueError(
                f"primary_metric '{metric}' is not one of {list(METRICS_BY_TASK[self.task])}"
            )
        return self

    @property
    def metric(self) -> str:
        return self.primary_metric or DEFAULT_PRIMARY_METRIC[self.task]


class ParserConfig(_Strict):
    selected_fields: list[str] = Field(default_factory=list)  # empty: keep every field
    field_mappings: dict[str, str] = Field(default_factory=dict)  # original name -> new name
    records_key: str | None = None  # where an HTTP JSON API puts its records

    @model_validator(mode="after")
    def _mappings_name_selected_fields(self) -> ParserConfig:
        if self.selected_fields:
            unknown = sorted(set(self.field_mappings) - set(self.selected_fields))
            if unknown:
                raise ValueError(f"field_mappings renames fields that are not selected: {unknown}")
        return self


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] in {"missing", "value_error"}:
        return f"field '{field}': {message}"
    return f"field '{field}': {message} (got {error['input']!r})"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None


def _validate(model: type[M], data: Any, path: Path) -> M:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        details = "; ".join(_describe(e) for e in exc.errors())  # type: ignore[arg-type]
        raise ConfigError(f"{path}: {details}") from None


def load_project_config(path: str | Path) -> ProjectConfig:
    path = Path(path)
    return _validate(ProjectConfig, _read_json(path), path)


def load_parser_config(path: str | Path) -> ParserConfig:
    path = Path(path)
    if not path.exists():
        return ParserConfig()
    return _validate(ParserConfig, _read_json(path), path)


@dataclass(frozen=True)
class Settings:
    """Everything a command needs: the project config, the chosen environment and its store."""

    config: ProjectConfig
    parser: ParserConfig
    config_path: Path
    env: str
    store_uri: str

    @property
    def environment(self) -> EnvironmentConfig:
        return self.config.promotion[self.env]  # type: ignore[index]

    def for_env(self, env: str) -> Settings:
        """The same project in another environment (its own store)."""
        environment = _environment(self.config, env, self.config_path)
        return Settings(self.config, self.parser, self.config_path, env, environment.store)


def _environment(config: ProjectConfig, env: str, path: Path) -> EnvironmentConfig:
    if env not in constants.ENVIRONMENTS:
        raise ConfigError(f"environment '{env}' is not one of {list(constants.ENVIRONMENTS)}")
    if env not in config.promotion:
        raise ConfigError(
            f"{path}: field 'promotion': no environment '{env}' "
            f"(configured: {sorted(config.promotion)})"
        )
    return config.promotion[env]


def load_settings(
    config_path: str | Path | None = None, env: str | None = None, store: str | None = None
) -> Settings:
    """Resolve the config file, environment and store, arguments first, then MLFN_* variables."""
    path = Path(
        config_path or os.environ.get(constants.ENV_CONFIG) or constants.DEFAULT_CONFIG_PATH
    )
    config = load_project_config(path)
    parser_path = path.parent / (config.parser_config or constants.DEFAULT_PARSER_CONFIG_NAME)
    parser = load_parser_config(parser_path)
    env_name = env or os.environ.get(constants.ENV_ENV) or constants.DEFAULT_ENV
    environment = _environment(config, env_name, path)
    store_uri = store or os.environ.get(constants.ENV_STORE) or environment.store
    return Settings(config, parser, path, env_name, store_uri)
