"""A batch's input: one file or a glob, on the local disk or in any store (s3://, gs://,
az://), as Parquet, CSV or JSON lines; read as Arrow tables, a row range at a time."""

from __future__ import annotations

import fnmatch
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import NotFoundError, ValidationError
from core.storage import Store, open_store, store_uri_of

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
           ".ndjson": "jsonl"}  # fmt: skip
GLOB_CHARS = "*?["
MAX_INPUT_FILES = 10_000


@dataclass(frozen=True)
class InputFile:
    store_uri: str  # the folder (a store) the file is in
    key: str  # its name in that store
    format: str  # parquet | csv | jsonl

    @property
    def uri(self) -> str:
        return f"{self.store_uri.rstrip('/')}/{self.key}"


def _split(location: str) -> tuple[str, str]:
    """(folder, pattern): the folder before the first glob character, the rest a pattern."""
    first = min((location.find(c) for c in GLOB_CHARS if c in location), default=-1)
    head = location if first < 0 else location[:first]
    folder, _, _ = head.rpartition("/")
    if "://" in location and "://" not in folder + "/":
        raise ValidationError(f"input '{location}' names no folder inside the bucket")
    return folder, location[len(folder) + 1 :] if folder else location


def resolve_inputs(location: str) -> list[InputFile]:
    """The files a `--input` names, sorted (a stable order: chunk numbers depend on it)."""
    if "://" not in location and Path(location).is_dir():
        location = location.rstrip("/") + "/*"
    folder, pattern = _split(location)
    store = open_store(store_uri_of(folder))
    if not any(c in pattern for c in GLOB_CHARS):
        keys = [pattern] if store.exists(pattern) else []
    else:
        keys = [key for key in store.list("") if fnmatch.fnmatchcase(key, pattern)]
    files = [InputFile(store.uri, key, _format(key)) for key in sorted(keys) if _readable(key)]
    if not files:
        raise NotFoundError(
            f"input '{location}' matches no Parquet, CSV or JSON-lines file "
            f"({', '.join(sorted(FORMATS))})"
        )
    if len(files) > MAX_INPUT_FILES:
        raise ValidationError(
            f"input '{location}' matches {len(files)} files; the limit is "
            f"{MAX_INPUT_FILES}: merge them, or score them in several batches"
        )
    return files


def _readable(key: str) -> bool:
    return Path(key).suffix.lower() in FORMATS


def _format(key: str) -> str:
    return FORMATS[Path(key).suffix.lower()]


@dataclass(frozen=True)
class Reading:
    """How a batch reads its inputs, as ingest read the training data: columns renamed by
    the parser config's field_mappings, its decimal mark, and its cells meaning "missing"."""

    renames: dict[str, str] = field(default_factory=dict)
    decimal: str | None = None
    missing_values: list[str] = field(default_factory=list)

    @classmethod
    def of_request(cls, request: dict[str, Any]) -> Reading:
        """The reading a stored plan's request asks for (older plans: renames only)."""
        return cls(request.get("field_mappings") or {}, request.get("decimal"),
                   request.get("missing_values") or [])  # fmt: skip


class InputReader:
    """Reads the files of one batch, keeping each open store."""

    def __init__(self) -> None:
        self._stores: dict[str, Store] = {}

    def _bytes(self, file: InputFile) -> bytes:
        if file.store_uri not in self._stores:
            self._stores[file.store_uri] = open_store(file.store_uri)
        return self._stores[file.store_uri].read_bytes(file.key)

    def _local_path(self, file: InputFile) -> str | None:
        return file.uri.removeprefix("file://") if file.store_uri.startswith("file://") else None

    def _csv(self, file: InputFile, decimal: str | None = None) -> Any:
        """A CSV file as a table, read from the disk when it is local (not held as bytes)."""
        from core.data.formats import SNIFF_BYTES

        local = self._local_path(file)
        if local is None:
            data = self._bytes(file)
            return _read_csv(io.BytesIO(data), data[:SNIFF_BYTES], decimal)
        with open(local, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
        return _read_csv(local, head, decimal)

    def row_count(self, file: InputFile) -> int:
        """Rows in the file (Parquet: from its footer; text formats: parsed)."""
        if file.format == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(self._source(file)).metadata.num_rows)
        return int(self.read(file).num_rows)

    def _source(self, file: InputFile) -> Any:
        local = self._local_path(file)
        return local if local is not None else io.BytesIO(self._bytes(file))

    def read(
        self, file: InputFile, start: int = 0, stop: int | None = None,
        reading: Reading | None = None,
    ) -> Any:  # fmt: skip
        """Rows [start, stop) of the file as an Arrow table (Parquet reads only the row
        groups that hold them), read as `reading` says: columns renamed where the new name
        is free, marked numbers made plain, cells meaning "missing" made null."""
        from core.data.number_marks import table_missing_marked
        from core.parquet import decimals_as_floats

        reading = reading or Reading()
        try:
            table = self._read_range(file, start, stop, reading.decimal)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise ValidationError(f"input '{file.uri}' cannot be read as {file.format}: "
                                  f"{str(exc).splitlines()[0][:300]}") from None  # fmt: skip
        table = table_missing_marked(decimals_as_floats(table), reading.missing_values)
        renames = reading.renames
        if renames:
            names = table.column_names
            table = table.rename_columns(
                [renames[n] if n in renames and renames[n] not in names else n for n in names]
            )
        return table

    def _read_range(
        self, file: InputFile, start: int, stop: int | None, decimal: str | None = None
    ) -> Any:
        if file.format == "parquet":
            return _parquet_rows(self._source(file), start, stop)
        if file.format == "csv":
            table = self._csv(file, decimal)
        else:
            import pyarrow.json as pjson

            table = pjson.read_json(self._source(file))
        end = table.num_rows if stop is None else stop
        return table.slice(start, max(end - start, 0))


def _read_csv(source: Any, head: bytes, decimal: str | None = None) -> Any:
    """A CSV file as Arrow reads it, its separator sniffed from `head` (its start: comma,
    semicolon, tab or pipe) and its numbers' decimal or grouping commas read as ingest
    reads them."""
    import pyarrow.csv as pcsv

    from core.data.formats import (
        separator_line,
        sniff_separator,
        spaced_after_separator,
        unicode_bom,
    )
    from core.data.number_marks import table_number_marks

    encoding = unicode_bom(head) or "utf8"  # a UTF-16/32 byte-order mark: read so
    text = head.decode(encoding, errors="ignore").lstrip("\ufeff")
    hinted, rest = separator_line(text)  # Excel's `sep=;` line: its separator, then skipped
    sep = hinted or sniff_separator(rest)
    skip = 1 if hinted else 0
    if spaced_after_separator(rest, sep):  # `size, colour`: read as ingest reads it
        table = _read_spaced_csv(source, sep, encoding, skip)
    else:
        parse = pcsv.ParseOptions(delimiter=sep)
        read = pcsv.ReadOptions(encoding=encoding, skip_rows=skip)
        table = pcsv.read_csv(source, parse_options=parse, read_options=read)
    return table_number_marks(table, decimal)


def _read_spaced_csv(source: Any, sep: str, encoding: str, skip: int) -> Any:
    """A CSV with a space after every separator, read without those spaces (pandas; Arrow
    would keep them, and take a quote after a space for part of the value)."""
    import pandas as pd
    import pyarrow as pa

    frame = pd.read_csv(
        source, sep=sep, encoding=encoding.replace("utf8", "utf-8-sig"), skiprows=skip,
        skipinitialspace=True,
    )  # fmt: skip
    return pa.Table.from_pandas(frame, preserve_index=False)


def _parquet_rows(source: Any, start: int, stop: int | None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    meta = parquet.metadata
    end = meta.num_rows if stop is None else min(stop, meta.num_rows)
    groups, first_row, offset = [], None, 0
    for index in range(meta.num_row_groups):
        rows = meta.row_group(index).num_rows
        if offset < end and offset + rows > start:
            groups.append(index)
            first_row = offset if first_row is None else first_row
        offset += rows
    if not groups:
        return parquet.schema_arrow.empty_table()
    table = parquet.read_row_groups(groups)
    assert first_row is not None
    return pa.Table.slice(table, start - first_row, end - start)
