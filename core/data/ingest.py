"""Ingest: raw copy in the store, fields selected and renamed, a content-addressed dataset."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.config import ParserConfig, ProjectConfig, Settings
from core.data.sources import RawData, extract_records, read_source
from core.errors import DataError, NotFoundError
from core.storage import Store, join_key

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class DatasetVersion:
    sha256: str
    rows: int
    columns: list[str]
    key: str  # the processed Parquet's key in the store
    source: str
    created: bool  # False when identical data was already ingested

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "rows": self.rows,
            "columns": self.columns,
            "key": self.key,
            "source": self.source,
            "created": self.created,
        }


def parse_raw(raw: RawData, records_key: str | None = None) -> pd.DataFrame:
    import pandas as pd

    buffer = io.BytesIO(raw.data)
    try:
        if raw.fmt == "csv":
            return pd.read_csv(buffer)
        if raw.fmt == "parquet":
            return pd.read_parquet(buffer)
        if raw.fmt == "jsonl":
            lines = [json.loads(line) for line in raw.data.splitlines() if line.strip()]
            return pd.DataFrame.from_records(extract_records(lines, None, raw.origin))
        return pd.DataFrame.from_records(
            extract_records(json.loads(raw.data), records_key, raw.origin)
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"source '{raw.origin}' is empty") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"source '{raw.origin}' cannot be parsed as {raw.fmt}: {exc}") from None


def apply_parser(frame: pd.DataFrame, parser: ParserConfig, origin: str) -> pd.DataFrame:
    if parser.selected_fields:
        missing = [name for name in parser.selected_fields if name not in frame.columns]
        if missing:
            raise DataError(
                f"source '{origin}' lacks the selected fields {missing}; "
                f"it has {list(frame.columns)}"
            )
        frame = frame[parser.selected_fields]
    return frame.rename(columns=parser.field_mappings)


def check_dataset(frame: pd.DataFrame, config: ProjectConfig, origin: str) -> pd.DataFrame:
    """Reject data that cannot train this project; drop rows without a target."""
    import pandas as pd

    needed = [*config.features, config.target]
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        kind = "target column" if missing == [config.target] else "columns"
        raise DataError(
            f"source '{origin}' lacks the {kind} {missing}; it has {list(frame.columns)}"
        )
    frame = frame[needed].dropna(subset=[config.target]).reset_index(drop=True)
    if frame.empty:
        raise DataError(f"source '{origin}' has no rows with a value for '{config.target}'")
    target = frame[config.target]
    if config.task == "classification" and target.nunique() < 2:
        raise DataError(
            f"source '{origin}': target '{config.target}' has a single class "
            f"({target.iloc[0]!r}); classification needs at least two"
        )
    if config.task == "regression" and not pd.api.types.is_numeric_dtype(target):
        raise DataError(f"source '{origin}': regression target '{config.target}' is not numeric")
    return frame


def dataset_sha256(frame: pd.DataFrame) -> str:
    """A content hash of the rows, independent of file format and encoder versions: numeric
    columns as float64 bytes (so 1 and 1.0 agree), other columns as their joined text."""
    import numpy as np
    import pandas as pd

    digest = hashlib.sha256()
    for name in frame.columns:
        column = frame[name]
        numeric = pd.api.types.is_numeric_dtype(column)
        digest.update(json.dumps([str(name), "numeric" if numeric else "text"]).encode())
        if numeric:
            values = column.to_numpy(dtype="float64", na_value=np.nan, copy=True)
            values[np.isnan(values)] = np.nan  # one bit pattern for every missing value
            digest.update(np.ascontiguousarray(values).tobytes())
        else:
            texts = ("\x00" if pd.isna(v) else str(v) for v in column.astype(object))
            digest.update("\x1e".join(texts).encode("utf-8"))
    return digest.hexdigest()


def ingest(settings: Settings, store: Store, source: str | None = None) -> DatasetVersion:
    config, environment = settings.config, settings.environment
    raw = read_source(source or config.data_source, settings.parser.records_key)
    raw_sha = hashlib.sha256(raw.data).hexdigest()
    raw_key = join_key(environment.raw_path, raw.name, f"{raw_sha}.{raw.fmt}")
    if not store.exists(raw_key):
        store.write_bytes(raw_key, raw.data)

    frame = apply_parser(parse_raw(raw, settings.parser.records_key), settings.parser, raw.origin)
    return save_dataset(settings, store, frame, raw.origin, raw_key)


def save_dataset(
    settings: Settings, store: Store, frame: pd.DataFrame, origin: str, raw_key: str | None = None
) -> DatasetVersion:
    """Check a frame of (already renamed) fields and store it as a content-addressed version."""
    config, environment = settings.config, settings.environment
    frame = check_dataset(frame, config, origin)
    sha = dataset_sha256(frame)
    key = join_key(environment.processed_path, f"{sha}.parquet")
    created = not store.exists(key)
    if created:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        store.write_bytes(key, buffer.getvalue())
        manifest = {
            "sha256": sha,
            "rows": len(frame),
            "columns": {name: str(dtype) for name, dtype in frame.dtypes.items()},
            "source": origin,
            "raw_key": raw_key,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        store.write_json(key.removesuffix(".parquet") + ".json", manifest)
    return DatasetVersion(sha, len(frame), list(frame.columns), key, origin, created)


def load_dataset(store: Store, settings: Settings, sha256: str) -> pd.DataFrame:
    import pandas as pd

    key = join_key(settings.environment.processed_path, f"{sha256}.parquet")
    try:
        data = store.read_bytes(key)
    except NotFoundError:
        raise NotFoundError(f"dataset {sha256} is not in {store.uri} (run `mlfn ingest`)") from None
    return pd.read_parquet(io.BytesIO(data))
