"""A window of the prediction log (logs/predictions/<yyyy>/<mm>/<dd>/<hhmmss>-<id>.jsonl) as
one frame: a row per predicted row, with its input columns, `__prediction__`,
`__version__`, `__time__` and `__prediction_id__`.

The objects are many and small (one per flush of each serving instance), so they are read by
a pool of threads and parsed together, columnar, by Arrow's JSON reader: a day of traffic
(a million rows) is read in seconds without a Python object per row. Lines that Arrow cannot
type as one column (a feature sent as a number by some callers and as text by others) are
read by the standard library instead, the slow but general way."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from core.drift.profile import PREDICTION
from core.storage import Store

logger = logging.getLogger("mlfn.drift")
LOG_PREFIX = "logs/predictions"
VERSION, TIME, PREDICTION_ID = "__version__", "__time__", "__prediction_id__"
READERS = 16
CHUNK_FILES = 2000  # objects parsed together: ≈ 80 MB of log text at 100 lines each
MAX_DAYS = 31  # how far back a window of the last N rows looks


@dataclass(frozen=True)
class Window:
    """The last `span` of time, or the last `rows` rows (newest first until enough)."""

    span: timedelta | None = None
    rows: int | None = None
    end: datetime | None = None  # default: now

    def bounds(self) -> tuple[datetime, datetime]:
        end = (self.end or datetime.now(UTC)).astimezone(UTC)
        return (end - self.span if self.span else end - timedelta(days=MAX_DAYS)), end


def day_prefixes(start: datetime, end: datetime, root: str = LOG_PREFIX) -> list[str]:
    """Newest day first."""
    days, day = [], end.date()
    while day >= start.date():
        days.append(f"{root}/{day:%Y/%m/%d}/")
        day -= timedelta(days=1)
    return days


def _keys_in(store: Store, prefix: str, start: datetime) -> list[str]:
    """A day's objects that can hold lines in the window. An object is named by the time it
    was written (HHMMSS), after every line in it: one named before the window's start holds
    none of the window's lines."""
    low = f"{start:%H%M%S}" if prefix.endswith(f"{start:%Y/%m/%d}/") else "000000"
    return sorted((k for k in store.list(prefix) if k.rsplit("/", 1)[-1][:6] >= low), reverse=True)


def _read_all(store: Store, keys: list[str]) -> list[bytes]:
    """Local files one after the other (faster than threads); object stores in parallel."""
    if len(keys) <= 1 or store.uri.startswith("file://"):
        return [store.read_bytes(k) for k in keys]
    with ThreadPoolExecutor(max_workers=min(READERS, len(keys))) as pool:
        return list(pool.map(store.read_bytes, keys))


def log_schema(kinds: dict[str, str], task: str) -> Any:
    """The Arrow schema of the log lines' fields a drift run reads, from the reference's
    feature kinds: the reader then skips the probabilities instead of converting them."""
    import pyarrow as pa

    fields = [
        (name, pa.float64() if kind == "numeric" else pa.string()) for name, kind in kinds.items()
    ]
    predicted = pa.string() if task == "classification" else pa.float64()
    return pa.schema(
        [
            ("id", pa.string()),
            ("time", pa.string()),
            ("model_version", pa.int64()),
            ("inputs", pa.list_(pa.struct(fields))),
            ("outputs", pa.struct([("predictions", pa.list_(predicted))])),
        ]
    )


def _parse_table(data: bytes, schema: Any) -> Any:
    import pyarrow.json as pajson

    options = pajson.ReadOptions(block_size=1 << 24)
    if schema is not None:
        parse = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
        try:
            return pajson.read_json(io.BytesIO(data), read_options=options, parse_options=parse)
        except Exception as exc:
            logger.info("prediction log: typed read failed (%s); inferring types", exc)
    return pajson.read_json(io.BytesIO(data), read_options=options)


def _columnar(data: bytes, schema: Any, with_ids: bool, bounds: tuple[str, str]) -> pd.DataFrame:
    """One Arrow table, filtered to the window before it is flattened, then one conversion
    to pandas (Arrow strings stay Arrow strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _parse_table(data, schema)
    times = pc.cast(table.column("time"), pa.string())
    inside = pc.and_(pc.greater_equal(times, bounds[0]), pc.less_equal(times, bounds[1]))
    table = table.filter(inside)
    inputs = table.column("inputs").combine_chunks()
    parents = pc.list_parent_indices(inputs)
    flat = pa.Table.from_struct_array(pc.list_flatten(inputs))
    outputs = table.column("outputs").combine_chunks()
    columns = {
        PREDICTION: pc.list_flatten(outputs.field("predictions")),
        VERSION: pc.take(table.column("model_version").combine_chunks(), parents),
        TIME: pc.take(pc.cast(table.column("time").combine_chunks(), pa.string()), parents),
    }
    if with_ids:  # only to join labels: a drift check alone goes without
        starts = np.asarray(inputs.offsets)[:-1]
        parent_at = parents.to_numpy()
        position = pa.array(np.arange(len(parent_at)) - starts[parent_at]).cast(pa.string())
        ids = pc.take(table.column("id").combine_chunks(), parents)
        columns[PREDICTION_ID] = pc.binary_join_element_wise(ids, position, "-")
    for name, column in columns.items():
        flat = flat.append_column(name, column)
    return flat.to_pandas()


def _by_line(data: bytes) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        predictions = entry.get("outputs", {}).get("predictions", [])
        base = entry.get("id", entry.get("request_id"))
        for index, (row, predicted) in enumerate(zip(entry["inputs"], predictions, strict=False)):
            records.append(
                {
                    **row,
                    PREDICTION: predicted,
                    VERSION: entry["model_version"],
                    TIME: entry["time"],
                    PREDICTION_ID: f"{base}-{index}",
                }
            )
    return pd.DataFrame.from_records(records)


def parse_lines(
    data: bytes,
    schema: Any = None,
    with_ids: bool = True,
    bounds: tuple[str, str] = ("", "\uffff"),
) -> pd.DataFrame:
    """The rows of log lines whose time is within `bounds` (ISO texts, inclusive)."""
    if not data:
        return pd.DataFrame(columns=[PREDICTION, VERSION, TIME, PREDICTION_ID])
    try:
        return _columnar(data, schema, with_ids, bounds)
    except Exception:
        frame = _by_line(data)
        return frame[(frame[TIME] >= bounds[0]) & (frame[TIME] <= bounds[1])]


def _prefetched(store: Store, chunks: list[list[str]]) -> Iterator[bytes]:
    """Each chunk's text, the next one read by a thread while this one is parsed."""
    if not chunks:
        return

    def text(keys: list[str]) -> bytes:
        return b"".join(_ensure_newline(d) for d in _read_all(store, keys))

    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(text, chunks[0])
        for following in [*chunks[1:], None]:
            data = pending.result()
            if following is not None:
                pending = reader.submit(text, following)
            yield data


def _chunks(keys: list[str]) -> list[list[str]]:
    return [keys[i : i + CHUNK_FILES] for i in range(0, len(keys), CHUNK_FILES)]


def read_window(
    store: Store,
    window: Window,
    version: int | None = None,
    schema: Any = None,
    with_ids: bool = True,
) -> pd.DataFrame:
    """The predicted rows in `window` (of one model version, when given), oldest first.
    Objects are parsed a chunk at a time, so memory holds one chunk's text and the rows."""
    start, end = window.bounds()
    low, high = start.isoformat(timespec="milliseconds"), end.isoformat(timespec="milliseconds")
    parts: list[pd.DataFrame] = []
    found = 0
    for prefix in day_prefixes(start, end):
        for data in _prefetched(store, _chunks(_keys_in(store, prefix, start))):
            frame = parse_lines(data, schema, with_ids, (low, high))
            if version is not None:
                frame = frame[frame[VERSION] == version]
            parts.append(frame)
            found += len(frame)
        if window.rows is not None and found >= window.rows:
            break
    if not parts:
        return parse_lines(b"")
    frame = pd.concat(parts, ignore_index=True).sort_values(TIME, kind="stable")
    if window.rows is not None:
        frame = frame.tail(window.rows)
    return frame.reset_index(drop=True)


def _ensure_newline(data: bytes) -> bytes:
    return data if data.endswith(b"\n") else data + b"\n"
