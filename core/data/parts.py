"""A folder or object prefix of data files read as one source: the part files Spark, Hive,
Athena, BigQuery exports or a daily job write (`part-00000.csv`, `2024-05-01.jsonl`, …).

The files directly in the folder are its parts, in name order; names starting with `.` or
`_` (`_SUCCESS`, `.part-00000.crc`) and files of other types are skipped. Every part has one
format. They are joined into the bytes of one file of that format — delimited text under
the first part's header (each other part must have the same header), JSON lines one after
the other, JSON records in one array, Parquet tables in one table — so everything after
reading works on one source, and the same rows give the same dataset version however they
were split. Sub-folders are not read; a pattern in the file name (`part-*.csv`) picks some
of the files (core.data.sources)."""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Callable

from core import json_text
from core.data.formats import decompress, unicode_bom
from core.errors import DataError, not_unicode

Part = tuple[str, bytes]  # (file name, its bytes)
MAX_PARTS = 10_000  # as `mlfn batch` reads at most (core.batch.inputs.MAX_INPUT_FILES)


def data_parts(names: list[str], format_of: Callable[[str], str]) -> tuple[list[str], str]:
    """The names among `names` that are parts (in name order), and their one format."""
    found: dict[str, str] = {}
    for name in sorted(names):
        if name.startswith((".", "_")):
            continue
        try:
            found[name] = format_of(name)
        except DataError:  # a README, a checksum: not data
            continue
    formats = sorted(set(found.values()))
    if len(formats) > 1:
        raise DataError(
            f"its files mix formats ({', '.join(formats)}): a folder's parts share one format"
        )
    if not found:
        raise DataError("it holds no data file (.csv, .json, .jsonl, .parquet, …) directly")
    if len(found) > MAX_PARTS:
        raise DataError(
            f"it holds {len(found):,} data files; the limit is {MAX_PARTS:,}: merge them, or "
            "name fewer with a pattern (part-00*.csv)"
        )
    return list(found), formats[0]


def joined(parts: list[Part], fmt: str, records_key: str | None) -> bytes:
    """The parts' rows as the bytes of one file of their format."""
    texts = [(name, _utf8(decompress(data, name), fmt)) for name, data in parts]
    if fmt in ("csv", "tsv"):
        return _delimited(texts)
    if fmt == "jsonl":
        return b"".join(_ending(data) for _, data in texts)
    if fmt == "json":
        return _json_records(texts, records_key)
    return _parquet(texts)


def _utf8(data: bytes, fmt: str) -> bytes:
    """A text part that starts with a UTF-16 or UTF-32 byte-order mark, as UTF-8 (each
    part may have been saved its own way; joined, they are one text)."""
    encoding = unicode_bom(data) if fmt != "parquet" else None
    return data.decode(encoding).encode("utf-8") if encoding else data


def _ending(data: bytes) -> bytes:
    return data if not data or data.endswith(b"\n") else data + b"\n"


def _delimited(parts: list[Part]) -> bytes:
    first_name, first = parts[0]
    first = first.removeprefix(codecs.BOM_UTF8)
    header = _header(first)
    chunks = [_ending(first)]
    for name, data in parts[1:]:
        data = data.removeprefix(codecs.BOM_UTF8)
        if _header(data) != header:
            raise DataError(
                f"part '{name}' has another header than '{first_name}' "
                f"({_header(data)[:200]!r} against {header[:200]!r}): the parts of a folder "
                "share their columns"
            )
        chunks.append(_ending(data[len(header) :].lstrip(b"\r\n")))
    return b"".join(chunks)


def _header(data: bytes) -> bytes:
    line = data.split(b"\n", 1)[0]
    return line.removesuffix(b"\r")


def _json_records(parts: list[Part], records_key: str | None) -> bytes:
    from core.data.sources import extract_records

    records: list[object] = []
    for name, data in parts:
        try:
            payload = json_text.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"part '{name}' is not readable JSON: {exc}") from None
        except UnicodeEncodeError as exc:
            raise DataError(f"part '{name}': {not_unicode(exc)}") from None
        records += extract_records(payload, records_key, name)
    return json.dumps(records).encode()


def _parquet(parts: list[Part]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for name, data in parts:
        try:
            tables.append(pq.read_table(io.BytesIO(data)))
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"part '{name}' cannot be read as Parquet: {exc}") from None
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except pa.ArrowException as exc:
        raise DataError(f"the Parquet parts do not share their columns: {exc}") from None
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
