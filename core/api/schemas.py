"""Request bodies of the HTTP API (they also document it in /openapi.json)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from core.config import ModelType
from core.constants import MODEL_REF_PATTERN


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataFrameSplit(_Body):
    columns: list[str]
    data: list[list[Any]]
    index: list[Any] | None = None


class PredictRequest(_Body):
    """Exactly one of `instances`, MLflow's `dataframe_split` or `dataframe_records`."""

    instances: list[dict[str, Any]] | None = None
    dataframe_split: DataFrameSplit | None = None
    dataframe_records: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> PredictRequest:
        given = [self.instances, self.dataframe_split, self.dataframe_records]
        if sum(shape is not None for shape in given) != 1:
            raise ValueError(
                "give exactly one of 'instances', 'dataframe_split' or 'dataframe_records'"
            )
        return self


class TrainRequest(_Body):
    model_type: ModelType | list[ModelType] | None = None
    params: dict[ModelType, dict[str, Any]] | None = None
    dataset: str | None = Field(
        default=None,
        max_length=2048,
        description="a dataset version (sha256), a key under the environment's raw or "
        "processed path, or a URI under its data_sources",
    )

    @model_validator(mode="after")
    def _bounded(self) -> TrainRequest:
        types = [self.model_type] if isinstance(self.model_type, str) else self.model_type
        if types is not None and (not types or len(set(types)) != len(types)):
            raise ValueError("model_type: give each model type once")
        return self


class RetrainRequest(_Body):
    """New labelled records appended to the champion's data, or a new dataset to train on."""

    records: list[dict[str, Any]] | None = Field(default=None, min_length=1, max_length=10_000)
    dataset: str | None = Field(default=None, max_length=2048)

    @model_validator(mode="after")
    def _one_source(self) -> RetrainRequest:
        if (self.records is None) == (self.dataset is None):
            raise ValueError("give exactly one of 'records' or 'dataset'")
        return self


class JobAccepted(BaseModel):
    job_id: str
    status: str


class FeedbackItem(_Body):
    prediction_id: str = Field(
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="an id /predict returned in `prediction_ids`",
    )
    label: StrictStr | StrictBool | StrictInt | StrictFloat = Field(
        description="the true class, or the true value (regression)"
    )


class FeedbackRequest(_Body):
    """Ground truth for earlier predictions: up to 10,000 labels a request."""

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=10_000)


class CanaryRequest(_Body):
    """The share of requests the challenger answers (canary) or scores a copy of (shadow)."""

    weight: float = Field(ge=0, le=100, strict=True)
    reason: StrictStr | None = Field(default=None, max_length=500)


class ShadowRequest(_Body):
    weight: float = Field(default=100.0, ge=0, le=100, strict=True)
    reason: StrictStr | None = Field(default=None, max_length=500)


class RollbackRequest(_Body):
    reason: StrictStr | None = Field(default=None, max_length=500)


class BatchBody(_Body):
    input: str = Field(
        max_length=2048,
        description="Parquet, CSV or JSON-lines file(s): a key or glob under the "
        "environment's raw or processed path in the store, or a URI under its data_sources",
    )
    output: str | None = Field(
        default=None,
        max_length=2048,
        description="leave out for part files in the store's batches/<id>/output/, or a "
        "kafka:// topic listed in MLFN_BATCH_KAFKA_OUTPUTS",
    )
    model: str | None = Field(
        default=None, pattern=MODEL_REF_PATTERN,
        description="NAME or NAME@VERSION (default: this deployment's model, its champion)",
    )  # fmt: skip
    format: Literal["parquet", "jsonl", "csv"] = "parquet"
    id_column: str | None = Field(default=None, min_length=1, max_length=256)
    chunk_rows: int = Field(default=100_000, ge=1_000, le=5_000_000)
