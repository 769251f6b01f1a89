"""Ingest: raw copy in the store, fields selected and renamed, a content-addressed dataset."""

from __future__ import annotations

import hashlib
import io
import json
import re
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.config import ParserConfig, ProjectConfig, Settings
from core.data.coerce import coerce_frame
from core.data.fetch import FetchGuard
from core.data.formats import (
    DUPLICATED_NAMES,
    decode,
    decompress,
    read_delimited_bytes,
    read_json,
    read_json_lines,
)
from core.data.lookalikes import quantity_target_error
from core.data.number_marks import missing_marked, number_marks
from core.data.sources import RawData, extract_records, public_source, read_source
from core.data.summary_rows import without_summary_rows
from core.errors import DataError, NotFoundError
from core.parquet import table_parquet
from core.schema import flat_record, has_nested, list_text, lists_as_text
from core.storage import Store, join_key

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

CLASSIFICATION_MAX_INTEGER_CLASSES = 50
LATEST_DATASET = "latest"  # under the processed path: <model>.json, what `mlfn ingest` made last


@dataclass(frozen=True)
class DatasetVersion:
    sha256: str
    rows: int
    columns: list[str]
    key: str  # the processed Parquet's key in the store
    source: str
    created: bool  # False when identical data was already ingested
    dropped_rows: int = 0  # rows without a target value
    # rows a spreadsheet added to sum up the data, left out (core.data.summary_rows)
    summary_rows: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "rows": self.rows,
            "columns": self.columns,
            "key": self.key,
            "source": self.source,
            "created": self.created,
            "dropped_rows": self.dropped_rows,
            "summary_rows": list(self.summary_rows),
        }


def parse_raw(raw: RawData, parser: ParserConfig | None = None) -> pd.DataFrame:
    """A frame of the source's records, every column still as the file wrote it."""

    parser = parser or ParserConfig()
    data = decompress(raw.data, raw.origin)
    if raw.fmt == "parquet":
        try:
            frame = frame_lists_as_text(read_parquet_frame(data))
            return missing_marked(frame, parser.missing_values)
        except (OSError, ValueError) as exc:
            raise DataError(f"source '{raw.origin}' cannot be read as Parquet: {exc}") from None
    if raw.fmt in ("csv", "tsv"):
        separator = parser.separator or ("\t" if raw.fmt == "tsv" else None)
        frame = read_delimited_bytes(
            data, raw.origin, separator, parser.encoding, parser.skip_lines
        )
        return number_marks(missing_marked(frame, parser.missing_values), parser.decimal)
    text = decode(data, raw.origin, parser.encoding)
    if raw.fmt == "jsonl":
        records = extract_records(read_json_lines(text, raw.origin), None, raw.origin)
    else:
        records = extract_records(read_json(text, raw.origin), parser.records_key, raw.origin)
    if not records:
        raise DataError(f"source '{raw.origin}' holds no records")
    return missing_marked(records_frame(records), parser.missing_values)


def read_parquet_frame(data: bytes) -> pd.DataFrame:
    """A Parquet file as pandas reads it, but for its decimal columns: numbers."""
    import pyarrow.parquet as pq

    from core.parquet import decimals_as_floats

    return decimals_as_floats(pq.read_table(io.BytesIO(data))).to_pandas()


def frame_lists_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A Parquet frame's list columns (pandas gives arrays) written as JSON records' lists
    are (`list_text`), so both formats give the same categories, and requests' too."""
    import numpy as np

    for name in frame.columns:
        column = frame[name]
        if column.dtype != object:
            continue
        present = column.dropna()
        if len(present) and isinstance(present.iloc[0], np.ndarray | list):
            frame[name] = column.map(_list_cell)  # the frame is read here: ours to change
    return frame


def _list_cell(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        value = value.tolist()
    return list_text(value) if isinstance(value, list) else value


def records_frame(records: list[Any]) -> pd.DataFrame:
    """JSON records as a frame; nested objects flattened into dotted columns as requests'
    rows are (`flat_record`: `{"user": {"age": 31}}` gives the column `user.age`)."""
    import pandas as pd

    if has_nested(records):
        records = [flat_record(record) for record in records]
    return pd.DataFrame.from_records(lists_as_text(records))


def apply_parser(frame: pd.DataFrame, parser: ParserConfig, origin: str) -> pd.DataFrame:
    """Keep the selected fields (named by their original or their new name), then rename."""
    if parser.selected_fields:
        original_of = {new: old for old, new in parser.field_mappings.items()}
        keep, missing = [], []
        for name in parser.selected_fields:
            if name in frame.columns:
                keep.append(name)
            elif original_of.get(name) in frame.columns:
                keep.append(original_of[name])
            else:
                missing.append(name)
        if missing:
            raise DataError(
                f"source '{origin}' lacks the selected fields {missing}"
                f"{missing_hint(frame, missing, parser.skip_lines)}",
                detail=f"it has {[str(c) for c in frame.columns]}",
            )
        frame = frame[list(dict.fromkeys(keep))]
    return frame.rename(columns=parser.field_mappings)


def refuse_duplicated_names(frame: pd.DataFrame, settings: Settings, origin: str) -> None:
    """A name the config uses that the file's header gives to several columns is refused:
    which column is meant cannot be told (pandas would quietly take the first)."""
    duplicated: dict[str, int] = frame.attrs.get(DUPLICATED_NAMES, {})
    if not duplicated:
        return
    config, parser = settings.config, settings.parser
    used = set(parser.selected_fields or [*config.features, config.target])
    used |= {old for old, new in parser.field_mappings.items() if new in used}
    for name in sorted(used.intersection(duplicated)):
        read_as = [name, *(f"{name}.{n}" for n in range(1, duplicated[name]))]
        raise DataError(
            f"source '{origin}': its header names {duplicated[name]} columns '{name}', so "
            f"which one is meant cannot be told; rename them in the file, or use the names "
            f"they are read as: {read_as}"
        )


def missing_hint(frame: pd.DataFrame, missing: list[str], skipped: int = 0) -> str:
    """What the columns suggest: a first line of values rather than names, the names in a
    row below (a second header line), nested objects flattened, or names close to the
    missing ones (to map in the parser config). `skipped`: the lines skipped above the
    header (the parser's skip_lines)."""
    names = [str(c) for c in frame.columns]
    if names and sum(map(_looks_like_a_value, names)) * 2 >= len(names):
        return (
            f" (its first line holds values, not column names: {names[:5]}; add a header "
            "line naming the columns)"
        )
    return (
        _header_below_hint(frame, missing, skipped)
        or _flattened_hint(frame, missing)
        or _close_names_hint(names, missing)
    )


HEADER_ROWS_LOOKED_AT = 5


def _header_below_hint(frame: pd.DataFrame, missing: list[str], skipped: int) -> str:
    """Where one of the first rows holds every missing name: the header is that row (above
    it, a line of group names, as a spreadsheet with merged header cells exports)."""
    wanted = set(missing)
    for position in range(min(HEADER_ROWS_LOOKED_AT, len(frame))):
        values = {value.strip() for value in frame.iloc[position].tolist()
                  if isinstance(value, str)}  # fmt: skip
        if wanted <= values:
            above = skipped + 1 + position  # the lines above the one holding the names
            return (
                f" (line {above + 1} holds the names {sorted(wanted)}: it looks like the "
                f'header, below a line of other names; set "skip_lines": {above} in the '
                f"parser config (mlfn init: --skip-lines {above}), or delete the lines above it)"
            )
    return ""


def _looks_like_a_value(name: str) -> bool:
    try:
        float(name.strip())
    except ValueError:
        return False
    return True


def _close_names_hint(names: list[str], missing: list[str]) -> str:
    """`"field_mappings": {"sepal length (cm)": "sepal_length"}` for names close enough."""
    import difflib

    simple = {re.sub(r"[^a-z0-9]", "", name.lower()): name for name in names}
    pairs = {}
    for wanted in missing:
        key = re.sub(r"[^a-z0-9]", "", wanted.lower())
        close = difflib.get_close_matches(key, list(simple), n=1, cutoff=0.6)
        if close and simple[close[0]] not in pairs:
            pairs[simple[close[0]]] = wanted
    if not pairs:
        return ""
    return f' (map the file\'s names in the parser config: "field_mappings": {json.dumps(pairs)})'


def _flattened_hint(frame: pd.DataFrame, missing: list[str]) -> str:
    """Where a missing name is a nested object of JSON records: its fields' columns."""
    for name in missing:
        fields = [str(c) for c in frame.columns if str(c).startswith(f"{name}.")]
        if fields:
            return (
                f" ('{name}' holds objects, flattened into the columns {fields[:5]}: list "
                "those as features)"
            )
    return ""


def infer_task(target: pd.Series) -> str:
    """classification for text, boolean or few distinct integers; else regression."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(target):
        return "classification"
    if not pd.api.types.is_numeric_dtype(target):
        why_not = quantity_target_error(str(target.name), target)
        if why_not is not None:
            raise DataError(why_not)
        return "classification"
    values = target.dropna()
    integral = bool((values == values.round()).all())
    distinct = values.nunique()
    few = distinct <= CLASSIFICATION_MAX_INTEGER_CLASSES and distinct <= max(2, len(values) // 5)
    return "classification" if integral and few else "regression"


def check_dataset(frame: pd.DataFrame, config: ProjectConfig, origin: str) -> pd.DataFrame:
    """Reject data that cannot train this project; drop rows without a target."""
    import pandas as pd

    needed = [*config.features, config.target]
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        kind = "target column" if missing == [config.target] else "columns"
        raise DataError(
            f"source '{origin}' lacks the {kind} {missing}{missing_hint(frame, missing)}",
            detail=f"it has {[str(c) for c in frame.columns]}",
        )
    frame = frame[needed].dropna(subset=[config.target]).reset_index(drop=True)
    if frame.empty:
        raise DataError(f"source '{origin}' has no rows with a value for '{config.target}'")
    target = frame[config.target]
    task = config.task or infer_task(target)
    if task == "classification" and target.nunique() < 2:
        raise DataError(
            f"source '{origin}': target '{config.target}' has a single class; "
            "classification needs at least two",
            detail=f"the class is {target.iloc[0]!r}",
        )
    if task == "regression" and not pd.api.types.is_numeric_dtype(target):
        raise DataError(f"source '{origin}': regression target '{config.target}' is not numeric")
    return frame


def dataset_sha256(frame: pd.DataFrame) -> str:
    """A content hash of the rows, independent of file format and encoder versions: numeric
    columns as float64 bytes (so 1 and 1.0 agree), other columns as their joined text."""
    import pandas as pd

    digest = hashlib.sha256()
    for name in frame.columns:
        column = frame[name]
        numeric = pd.api.types.is_numeric_dtype(column)
        digest.update(json.dumps([str(name), "numeric" if numeric else "text"]).encode())
        if numeric:
            digest.update(_float64_bytes(column))
        else:
            digest.update("\x1e".join(_texts(column)).encode("utf-8"))
    return digest.hexdigest()


def _float64_bytes(column: pd.Series) -> memoryview:
    """A numeric column as contiguous float64 values, every missing value one NaN bit
    pattern; copied only when it is not float64 already or has a missing value."""
    import numpy as np

    values = np.ascontiguousarray(column.to_numpy(dtype="float64", na_value=np.nan))
    missing = np.isnan(values)
    if missing.any():
        values = values.copy()
        values[missing] = np.nan
    return values.data.cast("B")


def _texts(column: pd.Series) -> list[str]:
    """Each value as str(), "\x00" where missing (one C-level pass, not a Python loop)."""
    import numpy as np
    import pandas as pd

    values = column.to_numpy(dtype=object)
    texts = list(map(str, values))
    for at in np.flatnonzero(pd.isna(values)).tolist():
        texts[at] = "\x00"
    return texts


def ingest(
    settings: Settings,
    store: Store,
    source: str | None = None,
    guard: FetchGuard | None = None,
    remember: bool = False,
) -> DatasetVersion:
    """Read a source into the store as a dataset version. `guard` limits what a source an
    HTTP caller named may reach (core.data.access); `remember` makes it the dataset
    `mlfn train` uses next (the CLI's own ingests only)."""
    staged = stage_ingest(settings, store, source, guard)
    staged.stored.result()
    if remember:
        store.write_json(_latest_key(settings), staged.version.to_dict())
    return staged.version


@dataclass(frozen=True)
class StagedDataset:
    """A dataset version whose rows are ready while its files are still being written:
    `frame` is what `load_dataset` gives back once they are (the same Arrow table, turned
    into pandas the same way); `stored` ends when the raw copy, the Parquet and the manifest
    are in the store (and raises what failed)."""

    version: DatasetVersion
    frame: pd.DataFrame
    stored: Future[None]


def stage_ingest(
    settings: Settings, store: Store, source: str | None = None, guard: FetchGuard | None = None
) -> StagedDataset:
    """`ingest` whose writes go on on a thread: the raw copy while the rows are parsed and
    typed, then the Parquet while the caller trains (hashing, encoding and file writes leave
    the GIL). A file whose rows are refused still leaves its raw copy."""
    raw = read_source(settings.data_source(source), settings.parser.records_key, guard)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlfn-ingest")
    try:
        raw_key = pool.submit(store_raw, store, settings.environment.raw_path, raw)
        try:
            frame = parse_raw(raw, settings.parser)
            refuse_duplicated_names(frame, settings, raw.origin)
            summed: list[str] = []
            if settings.parser.summary_rows == "leave_out":
                frame, summed = without_summary_rows(frame)
            frame = apply_parser(frame, settings.parser, raw.origin)
            checked = checked_dataset(settings, store, frame, raw.origin, summed)
        except BaseException:
            wait([raw_key])  # the raw copy is kept; the rows' own error goes first
            raise
        stored = pool.submit(_write_dataset, store, checked, raw_key)
    finally:
        pool.shutdown(wait=False)  # its thread ends with the writes
    return StagedDataset(checked.version, checked.table.to_pandas(), stored)


def store_raw(store: Store, raw_path: str, raw: RawData) -> str:
    """The source's bytes in the store under their SHA-256 (once); their key."""
    raw_sha = hashlib.sha256(raw.data).hexdigest()
    suffix = f"{raw.fmt}.gz" if raw.data.startswith(b"\x1f\x8b") else raw.fmt
    raw_key = join_key(raw_path, raw.name, f"{raw_sha}.{suffix}")
    if not store.exists(raw_key):
        store.write_bytes(raw_key, raw.data)
    return raw_key


def latest_dataset(settings: Settings, store: Store) -> DatasetVersion | None:
    """The dataset `mlfn ingest` made last in this store for this model, if any."""
    try:
        record = store.read_json(_latest_key(settings))
    except NotFoundError:
        return None
    fields = {k: record[k] for k in DatasetVersion.__dataclass_fields__ if k in record}
    fields["summary_rows"] = tuple(fields.get("summary_rows", ()))
    return DatasetVersion(**fields)


def _latest_key(settings: Settings) -> str:
    """Per model: two projects sharing a store each train on their own last ingest."""
    name = f"{settings.config.model_name}.json"
    return join_key(settings.environment.processed_path, LATEST_DATASET, name)


def save_dataset(
    settings: Settings, store: Store, frame: pd.DataFrame, origin: str, raw_key: str | None = None
) -> DatasetVersion:
    """Check a frame of (already renamed) fields and store it as a content-addressed version."""
    checked = checked_dataset(settings, store, frame, origin)
    _write_dataset(store, checked, raw_key)
    return checked.version


@dataclass(frozen=True)
class CheckedDataset:
    """A frame typed and checked, as the Arrow table its Parquet is written from."""

    version: DatasetVersion
    table: pa.Table
    manifest: dict[str, Any]


def checked_dataset(
    settings: Settings,
    store: Store,
    frame: pd.DataFrame,
    origin: str,
    summary_rows: list[str] | None = None,
) -> CheckedDataset:
    """`frame` typed and checked; `summary_rows`: the rows ingest left out of it as a
    spreadsheet's sums (said in the manifest and the version)."""
    import pyarrow as pa

    config, environment = settings.config, settings.environment
    frame = coerce_frame(frame, dict(config.feature_types), config.target)
    given = len(frame)
    frame = check_dataset(frame, config, origin)
    sha = dataset_sha256(frame)
    key = join_key(environment.processed_path, f"{sha}.parquet")
    created = not store.exists(key)
    manifest = {
        "sha256": sha,
        "rows": len(frame),
        "columns": {name: str(dtype) for name, dtype in frame.dtypes.items()},
        "source": public_source(origin),
        "raw_key": None,
        "dropped_rows": given - len(frame),
        "summary_rows": summary_rows or [],
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    version = DatasetVersion(sha, len(frame), [str(c) for c in frame.columns], key, origin,
                             created, given - len(frame), tuple(summary_rows or ()))  # fmt: skip
    return CheckedDataset(version, pa.Table.from_pandas(frame, preserve_index=False), manifest)


def _write_dataset(
    store: Store, checked: CheckedDataset, raw_key: str | Future[str] | None
) -> None:
    """The Parquet and its manifest, unless the version was there already; `raw_key`: the
    raw copy's key, or its write under way (which must succeed all the same)."""
    raw = raw_key.result() if isinstance(raw_key, Future) else raw_key
    version = checked.version
    if version.created:
        store.write_bytes(version.key, table_parquet(checked.table))
        manifest = {**checked.manifest, "raw_key": raw}
        store.write_json(version.key.removesuffix(".parquet") + ".json", manifest)


def load_dataset(store: Store, settings: Settings, sha256: str) -> pd.DataFrame:
    import pandas as pd

    key = join_key(settings.environment.processed_path, f"{sha256}.parquet")
    try:
        data = store.read_bytes(key)
    except NotFoundError:
        raise NotFoundError(f"dataset {sha256} is not in {store.uri} (run `mlfn ingest`)") from None
    return pd.read_parquet(io.BytesIO(data))
