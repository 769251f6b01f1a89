"""Project configuration: config.json and project_parser_config.json, validated with pydantic.

Errors name the file, the field and what was expected. MLFN_CONFIG, MLFN_ENV and MLFN_STORE
override the file's choices.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from core import constants
from core.config_forms import translate
from core.errors import ConfigError

Task = Literal["classification", "regression"]
FeatureType = Literal["numeric", "boolean", "datetime", "categorical", "text"]
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
    # Where HTTP callers may point /train and /retrain: URI prefixes (https://, s3://, gs://,
    # az://; http:// only when written so). Datasets in the store are always allowed.
    data_sources: list[str] = Field(default_factory=list)
    aws: dict[str, Any] = Field(default_factory=dict)
    gcp: dict[str, Any] = Field(default_factory=dict)
    azure: dict[str, Any] = Field(default_factory=dict)


class JobsConfig(_Strict):
    """How training jobs run: attempts, leases, worker processes, concurrency, idempotency."""

    max_attempts: int = Field(default=2, ge=1, le=10)  # then failed with `worker_lost`
    lease_seconds: float = Field(default=60.0, gt=0)  # a running job's claim, renewed by...
    heartbeat_seconds: float = Field(default=15.0, gt=0)  # ...a heartbeat this often
    workers: int = Field(default=1, ge=1, le=64)  # worker processes under `mlfn serve`
    max_concurrent_jobs: int = Field(default=2, ge=1, le=1000)  # running per store
    idempotency_ttl_seconds: float = Field(default=86_400.0, gt=0)
    redispatch_after_seconds: float = Field(default=900.0, gt=0)  # a queued job's lost message
    sweep_every_seconds: float = Field(default=60.0, gt=0)  # under `mlfn serve`
    cancel_poll_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _heartbeat_inside_lease(self) -> JobsConfig:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                "training.heartbeat_seconds must be at most half of training.lease_seconds, "
                "so one late heartbeat does not lose the lease"
            )
        return self


def _cron(value: str | None) -> str | None:
    from core.cron import Cron

    if value is None:
        return None
    try:
        return Cron.parse(value).text
    except ConfigError as exc:
        raise ValueError(exc.message) from None


def _duration(value: str) -> str:
    from core.cron import parse_duration

    try:
        parse_duration(value)
    except ConfigError as exc:
        raise ValueError(exc.message) from None
    return value


class MonitoringConfig(_Strict):
    """Drift checks and live metrics on a schedule, and what a finding triggers."""

    schedule: str = "0 * * * *"  # cron, UTC: hourly
    window: str | int = "24h"  # the prediction log of the last '24h' (or N rows)
    min_rows: int = Field(default=200, ge=10)  # fewer: "insufficient data", no verdict
    drift_share: float = Field(default=0.5, gt=0.0, le=1.0)  # of features drifted: dataset drift
    metric_drop: float = Field(default=0.05, ge=0.0)  # primary metric on labels vs at training
    min_labels: int = Field(default=50, ge=1)  # labelled predictions before live metrics count
    cooldown: str = "24h"  # at most one triggered retraining per cooldown
    action: Literal["alert", "retrain"] = "alert"
    feedback_scope: Literal["feedback", "predict"] = "feedback"  # who may POST /feedback

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str | None:
        return _cron(value)

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, value: str) -> str:
        return _duration(value)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str | int) -> str | int:
        if isinstance(value, int):
            if value < 10:
                raise ValueError("a window of rows must be at least 10")
            return value
        return _duration(value)


class RetrainConfig(_Strict):
    """Plain scheduled retraining on the configured data source."""

    schedule: str | None = None  # cron, UTC, e.g. "0 3 * * *" daily at 03:00

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return _cron(value)


class RolloutConfig(_Strict):
    """The automatic rollout of a challenger: each run of the monitor schedule steps it up
    through `steps` (percent of traffic), promotes it after the last, or rolls it back."""

    steps: list[float] = Field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0], min_length=1)
    min_requests: int = Field(default=100, ge=1)  # each version, at each step, before deciding
    min_labels: int = Field(default=0, ge=0)  # labelled predictions of the challenger; 0: none
    max_error_rate: float = Field(default=0.01, ge=0.0, le=1.0)  # challenger's, or rollback
    metric_margin: float = Field(default=0.0, ge=0.0)  # live metric below the champion's
    schedule: str = "*/15 * * * *"  # cron, UTC; used when there is no `monitoring` section

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: list[float]) -> list[float]:
        if any(not 0.0 < step <= 100.0 for step in value):
            raise ValueError("each step is a percentage above 0 and at most 100")
        if value != sorted(set(value)) or value[-1] != 100.0:
            raise ValueError("steps must rise strictly and end at 100, e.g. [5, 25, 50, 100]")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str | None:
        return _cron(value)


class ProjectConfig(_Strict):
    model_name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    task: Task | None = None  # None: inferred from the target at training
    cloud_vendor: Literal["local", "aws", "gcp", "azure"] = "local"
    model_type: list[ModelType] = Field(min_length=1)
    features: list[str] = Field(min_length=1)
    feature_types: dict[str, FeatureType] = Field(default_factory=dict)
    target: str = Field(min_length=1)
    train_split: float = Field(gt=0.0, lt=1.0)
    training_params: dict[ModelType, dict[str, Any]] = Field(default_factory=dict)
    data_source: str | None = Field(default=None, min_length=1)
    promotion: dict[Environment, EnvironmentConfig] = Field(min_length=1)
    primary_metric: str | None = None
    min_improvement: float = Field(default=0.0, ge=0.0)
    class_balance: bool = False
    text_max_features: int = Field(default=500, ge=1)
    max_categories: int = Field(default=100, ge=1, le=10_000)
    max_model_mb: float = Field(default=50.0, gt=0)  # a bigger graph is not servable
    rollout: RolloutConfig | None = None  # automatic canary steps, promotion and rollback
    training_timeout_seconds: float = Field(default=3600.0, gt=0)  # a local job is then killed
    # Raised ceilings for what HTTP callers may set, e.g. {"random_forest": {"n_estimators": 2000}}
    training_limits: dict[str, dict[str, float]] = Field(default_factory=dict)
    training: JobsConfig = Field(default_factory=JobsConfig)
    random_seed: int = constants.RANDOM_SEED
    parser_config: str | None = None
    monitoring: MonitoringConfig | None = None  # drift, live metrics; None: off
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)

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
        if self.task is None:
            return self
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
    def resolved_task(self) -> Task:
        if self.task is None:
            raise ConfigError("the task is not known yet: it is inferred from the target")
        return self.task

    @property
    def metric(self) -> str:
        if self.task is None:
            raise ConfigError("the task is not known yet: it is inferred from the target")
        return self.primary_metric or DEFAULT_PRIMARY_METRIC[self.task]

    def with_task(self, task: str) -> ProjectConfig:
        """This config with the task set (inferred from the data when the file has none);
        a linear model named for the other task is swapped for this task's."""
        if self.task is not None:
            return self
        linear = LINEAR_MODEL_BY_TASK[task]
        types = [linear if t in LINEAR_MODEL_BY_TASK.values() else t for t in self.model_type]
        params = {
            (linear if k in LINEAR_MODEL_BY_TASK.values() else k): v
            for k, v in self.training_params.items()
        }
        data = {
            **self.model_dump(),
            "task": task,
            "model_type": list(dict.fromkeys(types)),
            "training_params": params,
        }
        return ProjectConfig.model_validate(data)


class ParserConfig(_Strict):
    # The fields to keep, by original or new name; empty: keep every field.
    selected_fields: list[str] = Field(default_factory=list)
    field_mappings: dict[str, str] = Field(default_factory=dict)  # original name -> new name
    records_key: str | None = None  # where an HTTP JSON API puts its records
    separator: str | None = Field(default=None, min_length=1, max_length=1)  # CSV: sniffed
    encoding: str = "utf-8"
    # CSV: lines above the header to skip (a title, a note, an export's date), counted from
    # the top of the file
    skip_lines: int = Field(default=0, ge=0, le=10_000)
    # CSV: the decimal mark of numbers (the other mark groups thousands); None: as each
    # column shows it (core.data.number_marks)
    decimal: Literal[".", ","] | None = None
    # Cell texts that mean "missing" beyond the usual ones ("", "NA", "N/A", "null", ...):
    # e.g. ["unknown", "?", "-"]; compared without surrounding spaces, in every format
    missing_values: list[str] = Field(default_factory=list)
    # A "Total" (or "Sum", "Average"...) row a spreadsheet added below the data, holding the
    # sum or mean of a column above (core.data.summary_rows): left out of the dataset with a
    # note, or kept as a row like the others
    summary_rows: Literal["leave_out", "keep"] = "leave_out"

    @model_validator(mode="after")
    def _mappings_are_one_to_one(self) -> ParserConfig:
        targets = list(self.field_mappings.values())
        twice = sorted({name for name in targets if targets.count(name) > 1})
        if twice:
            raise ValueError(f"field_mappings gives several fields the same new name: {twice}")
        return self


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where an unknown key `loc[-1]` was found, for "did you mean"."""
    fields: Any = model.model_fields
    for part in loc[:-1]:
        info = fields.get(part) if isinstance(fields, dict) else None
        if info is None:
            if part in constants.ENVIRONMENTS:
                fields = EnvironmentConfig.model_fields
            continue
        annotation = info.annotation
        if (
            annotation is not None
            and isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
        ):
            fields = annotation.model_fields
        elif part == "promotion":
            fields = {env: None for env in constants.ENVIRONMENTS}
    return list(fields) if isinstance(fields, dict) else []


KEY_STEP = "[key]"  # pydantic's step for a mapping's key in an error's location
KEY_HINTS = {
    "training_params": "; give each model type's parameters under its name, e.g. "
    '"training_params": {"random_forest": {"n_estimators": 200}}',
    "promotion": "; it holds one block per environment (its store, paths and cloud settings)",
}


def _one_point_each(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The errors without the complaints about the value of a key that is itself not
    allowed (beside the point: the key is the mistake)."""
    bad_keys = {tuple(e["loc"])[:-1] for e in errors if tuple(e["loc"])[-1:] == (KEY_STEP,)}
    return [
        e
        for e in errors
        if KEY_STEP in e["loc"] or not any(tuple(e["loc"])[: len(k)] == k for k in bad_keys)
    ]


def _key_problem(loc: tuple[Any, ...], error: dict[str, Any]) -> str:
    """A mapping key that is not allowed: named, with the allowed ones."""
    where, key = _field_path(loc[:-2]), str(loc[-2])
    allowed = str(error["msg"]).removeprefix("Input should be ")
    close = difflib.get_close_matches(key, re.findall(r"'([^']*)'", allowed), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else KEY_HINTS.get(where, "")
    return f"{where}: key '{key}' is not one of {allowed}{hint}"


def _describe(model: type[BaseModel], error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    if loc[-1:] == (KEY_STEP,) and len(loc) >= 2 and error["type"] == "literal_error":
        return _key_problem(loc, error)
    field = _field_path(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(model, loc), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"{field}: unknown key{hint}"
    if error["type"] in {"missing", "value_error"}:
        return f"{field}: {message}"
    return f"{field}: {message} (given: {error['input']!r})"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def _validate(model: type[M], data: Any, path: Path) -> M:
    """The validated config, or one ConfigError listing every problem, one per line."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        errors: list[Any] = exc.errors()
        problems = list(dict.fromkeys(_describe(model, e) for e in _one_point_each(errors)))
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        lines = "\n".join(f"  {path}: {problem}" for problem in problems)
        raise ConfigError(f"{path}: {count}:\n{lines}") from None


def load_project_config(path: str | Path) -> ProjectConfig:
    return load_project_config_with_notes(path)[0]


def load_project_config_with_notes(path: str | Path) -> tuple[ProjectConfig, list[str]]:
    """The config, and a note for each default filled in or form translated."""
    path = Path(path)
    data, notes = translate(_read_json(path), path)
    config = _validate(ProjectConfig, data, path)
    if config.task is None:
        notes.append("task: inferred from the target column at training")
    if config.data_source is None:
        notes.append(f"data_source: none; give --source or set {constants.ENV_DATA_SOURCE}")
    return config, notes


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
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> str:
        """Everything needed to rebuild these settings in another process."""
        return json.dumps(
            {
                "config": self.config.model_dump(mode="json"),
                "parser": self.parser.model_dump(mode="json"),
                "config_path": str(self.config_path),
                "env": self.env,
                "store_uri": self.store_uri,
                "notes": list(self.notes),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data = json.loads(text)
        return cls(
            ProjectConfig.model_validate(data["config"]),
            ParserConfig.model_validate(data["parser"]),
            Path(data["config_path"]),
            data["env"],
            data["store_uri"],
            tuple(data["notes"]),
        )

    def data_source(self, given: str | None = None) -> str:
        """The source to ingest: the one given (relative to the current folder), else
        $MLFN_DATA_SOURCE, else the config's (a relative path there is relative to the
        config file's folder)."""
        source = given or os.environ.get(constants.ENV_DATA_SOURCE)
        if not source and self.config.data_source:  # the config's paths are the config's
            source = anchored_path(self.config.data_source, self.config_path.parent)
        if not source:
            raise ConfigError(
                f"{self.config_path}: no data source: give --source PATH|URL, set "
                f'{constants.ENV_DATA_SOURCE}, or add "data_source" to the config'
            )
        return source

    @property
    def environment(self) -> EnvironmentConfig:
        return self.config.promotion[self.env]  # type: ignore[index]

    def for_env(self, env: str) -> Settings:
        """The same project in another environment (its own store)."""
        environment = _environment(self.config, env, self.config_path)
        store = anchored_store(environment.store, self.config_path.parent)
        return Settings(self.config, self.parser, self.config_path, env, store, self.notes)


def _environment(config: ProjectConfig, env: str, path: Path) -> EnvironmentConfig:
    if env not in constants.ENVIRONMENTS:
        raise ConfigError(f"environment '{env}' is not one of {list(constants.ENVIRONMENTS)}")
    if env not in config.promotion:
        raise ConfigError(
            f"{path}: field 'promotion': no environment '{env}' "
            f"(configured: {sorted(config.promotion)})"
        )
    return config.promotion[env]


def anchored_path(value: str, base: Path) -> str:
    """A relative local path (no URI scheme) resolved against `base`; anything else as is."""
    if "://" in value or Path(value).is_absolute():
        return value
    return str((base / value).resolve())


def anchored_store(uri: str, base: Path) -> str:
    """`file://RELATIVE` resolved against `base` (the config's folder); other URIs as they are."""
    if not uri.startswith("file://"):
        return uri
    return "file://" + anchored_path(uri.removeprefix("file://"), base)


def load_settings(
    config_path: str | Path | None = None, env: str | None = None, store: str | None = None
) -> Settings:
    """Resolve the config file, environment and store, arguments first, then MLFN_* variables."""
    path = Path(
        config_path or os.environ.get(constants.ENV_CONFIG) or constants.DEFAULT_CONFIG_PATH
    )
    config, notes = load_project_config_with_notes(path)
    parser_path = path.parent / (config.parser_config or constants.DEFAULT_PARSER_CONFIG_NAME)
    parser = load_parser_config(parser_path)
    env_name = env or os.environ.get(constants.ENV_ENV) or constants.DEFAULT_ENV
    environment = _environment(config, env_name, path)
    store_uri = (
        store
        or os.environ.get(constants.ENV_STORE)
        or anchored_store(environment.store, path.parent)  # relative to the config file
    )
    return Settings(config, parser, path, env_name, store_uri, tuple(notes))
