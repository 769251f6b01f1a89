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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from core.drift.profile import PREDICTION
from core.storage import Store

LOG_PREFIX = "logs/predictions"
VERSION, TIME, PREDICTION_ID = "__version__", "__time__", "__prediction_id__"
READERS = 16
MAX_DAYS = 400


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


def _keys_in(store: Store, prefix: str, start: datetime, end: datetime) -> list[str]:
    """A day's objects whose name (their flush time, HHMMSS) can hold lines in the window;
    a batch holds at most its age limit of lines before its name, so a minute is allowed."""
    low = (
        (start - timedelta(minutes=1)).strftime("%H%M%S")
        if prefix.endswith(f"{start:%Y/%m/%d}/")
        else "000000"
    )
    return sorted((k for k in store.list(prefix) if k.rsplit("/", 1)[-1][:6] >= low), reverse=True)


def _read_all(store: Store, keys: list[str]) -> list[bytes]:
    if len(keys) <= 1:
        return [store.read_bytes(k) for k in keys]
    with ThreadPoolExecutor(max_workers=min(READERS, len(keys))) as pool:
        return list(pool.map(store.read_bytes, keys))


def _columnar(data: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pajson

    table = pajson.read_json(io.BytesIO(data), read_options=pajson.ReadOptions(block_size=1 << 24))
    inputs = table.column("inputs").combine_chunks()
    parents = pc.list_parent_indices(inputs).to_numpy()
    rows = pc.list_flatten(inputs)
    frame = pa.Table.from_struct_array(rows).to_pandas() if len(rows) else pd.DataFrame()
    starts = np.asarray(inputs.offsets)[:-1]
    position = np.arange(len(parents)) - starts[parents]
    predictions = pc.list_flatten(table.column("outputs").combine_chunks().field("predictions"))
    frame[PREDICTION] = predictions.to_numpy(zero_copy_only=False)
    frame[VERSION] = table.column("model_version").to_numpy()[parents]
    frame[TIME] = pc.cast(table.column("time"), pa.string()).to_numpy(zero_copy_only=False)[parents]
    ids = table.column("id").to_numpy(zero_copy_only=False)[parents]
    frame[PREDICTION_ID] = [f"{i}-{p}" for i, p in zip(ids, position.tolist(), strict=True)]
    return frame


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


def parse_lines(data: bytes) -> pd.DataFrame:
    if not data.strip():
        return pd.DataFrame(columns=[PREDICTION, VERSION, TIME, PREDICTION_ID])
    try:
        return _columnar(data)
    except Exception:
        return _by_line(data)


def read_window(store: Store, window: Window, version: int | None = None) -> pd.DataFrame:
    """The predicted rows in `window` (of one model version, when given), oldest first."""
    start, end = window.bounds()
    low, high = start.isoformat(timespec="milliseconds"), end.isoformat(timespec="milliseconds")
    parts: list[pd.DataFrame] = []
    found = 0
    for prefix in day_prefixes(start, end):
        keys = _keys_in(store, prefix, start, end)
        if not keys:
            continue
        frame = parse_lines(b"".join(_ensure_newline(d) for d in _read_all(store, keys)))
        frame = frame[(frame[TIME] >= low) & (frame[TIME] <= high)]
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
