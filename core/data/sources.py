"""Read raw bytes from a data source: a local file, an object URI, or an HTTP JSON API."""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlsplit, urlunsplit

from core.data.fetch import FetchGuard, get_json, limits
from core.errors import DataError, MlfnError, SourceError
from core.storage import open_store, store_uri_of

FILE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "csv",  # delimited text as many tools export it: its separator sniffed
}
SPREADSHEETS = frozenset({".xlsx", ".xlsm", ".xls", ".ods", ".numbers"})
STORE_SCHEMES = ("file://", "s3://", "gs://", "az://")
COMMON_RECORD_KEYS = ("records", "data", "results", "items", "rows")
GLOB = re.compile(r"[*?\[]")  # a file name pattern: the last segment of a source only
OBJECT_GLOB = re.compile(r"[*\[]")  # in an object URI ("?" may start a query there)
SECRET_QUERY = re.compile(r"(sig|signature|token|key|secret|password|credential|code|auth)", re.I)


@dataclass(frozen=True)
class RawData:
    name: str  # a short, path-safe name for the source
    fmt: str  # csv, json, jsonl or parquet
    data: bytes
    origin: str  # where it came from, as given


def public_source(origin: str) -> str:
    """A source as it may be recorded: no user:password, query values that look like
    credentials (a SAS `sig`, a presigned `X-Amz-Signature`, an `access_token`) masked."""
    if "://" not in origin:
        return origin
    parts = urlsplit(origin)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    query = [
        (name, "***" if SECRET_QUERY.search(name) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "source"


def _format_of(path: str) -> str:
    """The format from the file name; a `.gz` ending is looked through (gzip is detected
    from the bytes)."""
    name = Path(path)
    suffix = name.suffix.lower()
    if suffix == ".gz":
        suffix = Path(name.stem).suffix.lower()
    if suffix in SPREADSHEETS:
        raise DataError(
            f"source '{path}': a spreadsheet ('{suffix}') is not read; save the sheet as CSV "
            "(Excel: File > Save As > CSV UTF-8; LibreOffice: File > Save As > Text CSV) and "
            "ingest that file"
        )
    if suffix not in FILE_FORMATS:
        raise DataError(
            f"source '{path}': unknown file type '{suffix or '(none)'}'; "
            f"expected one of {sorted(FILE_FORMATS)}"
        )
    return FILE_FORMATS[suffix]


def read_source(
    source: str, records_key: str | None = None, guard: FetchGuard | None = None
) -> RawData:
    """The raw bytes of a source. With a guard (a source an HTTP caller named), only URIs
    under its allowed prefixes are read, and HTTP hosts are checked (core.data.fetch)."""
    if guard is not None:
        guard.check_prefix(source)
    if source.startswith(("http://", "https://")):
        return _read_http(source, records_key, guard)
    folder, _, last = source.rpartition("/")
    if source.startswith(STORE_SCHEMES):
        if source.endswith("/") or OBJECT_GLOB.search(last):
            return _read_parts(folder, last or "*", source, records_key)
        return _read_object(source)
    if Path(source).is_dir():
        return _read_parts(source, "*", source, records_key)
    if GLOB.search(last) and not Path(source).exists():
        return _read_parts(folder or ".", last, source, records_key)
    return _read_file(source)


def _read_parts(folder: str, pattern: str, source: str, records_key: str | None) -> RawData:
    """The data files directly in a folder (a local one or a bucket prefix) whose names
    match `pattern`, as one source (core.data.parts)."""
    if "://" not in folder and not Path(folder or ".").is_dir():
        raise SourceError(f"source '{source}': folder '{folder}' does not exist")
    try:
        store = open_store(store_uri_of(folder))
        direct = [key for key in store.list("") if "/" not in key]
        names, fmt = _parts_of(source, fnmatch.filter(direct, pattern), pattern)
        parts = [(name, store.read_bytes(name)) for name in names]
    except MlfnError as exc:
        if isinstance(exc, DataError):
            raise
        raise SourceError(f"source '{source}' could not be read: {exc.message}") from None
    name = _safe_name(store.uri.rstrip("/").rpartition("/")[2])  # the folder's own name
    return RawData(name, fmt, _joined(source, parts, fmt, records_key), source)


def _parts_of(source: str, files: list[str], pattern: str) -> tuple[list[str], str]:
    from core.data.parts import data_parts

    if not files and pattern != "*":
        raise DataError(f"source '{source}': no file matches '{pattern}'")
    try:
        return data_parts(files, _format_of)
    except DataError as exc:
        raise DataError(f"source folder '{source}': {exc.message}") from None


def _joined(source: str, parts: list[tuple[str, bytes]], fmt: str, key: str | None) -> bytes:
    from core.data.parts import joined

    try:
        return joined(parts, fmt, key)
    except DataError as exc:
        raise DataError(f"source folder '{source}': {exc.message}") from None


def _read_file(source: str) -> RawData:
    path = Path(source)
    fmt = _format_of(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"source file '{source}' does not exist") from None
    return RawData(_safe_name(path.name.split(".")[0]), fmt, data, source)


def _read_object(uri: str) -> RawData:
    parent, _, name = uri.rpartition("/")
    fmt = _format_of(name)
    try:
        data = open_store(parent).read_bytes(name)
    except MlfnError as exc:
        raise SourceError(f"source '{uri}' could not be read: {exc.message}") from None
    return RawData(_safe_name(Path(name).stem), fmt, data, uri)


def extract_records(payload: Any, records_key: str | None, url: str) -> list[dict[str, Any]]:
    """The records of one JSON page: the page itself when a list, else under `records_key`
    (a key, or a dotted path such as `data.items`), else under a common key at the top or
    one level down (`{"data": {"items": [...]}}`)."""
    if isinstance(payload, list):
        records = payload
    elif isinstance(payload, dict):
        records = _records_under(payload, records_key, url)
    else:
        raise DataError(f"{url}: expected a JSON list of records or an object holding one")
    if not all(isinstance(record, dict) for record in records):
        raise DataError(f"{url}: every record must be a JSON object")
    return records


def _records_under(payload: dict[str, Any], records_key: str | None, url: str) -> list[Any]:
    if records_key:
        found = _at_path(payload, records_key)
        if isinstance(found, list):
            return found
        raise DataError(f"{url}: the JSON answer has no list of records under key "
                        f"'{records_key}'{_lists_hint(payload)}")  # fmt: skip
    for key in COMMON_RECORD_KEYS:
        if isinstance(payload.get(key), list):
            return list(payload[key])
    inner = [f"{outer}.{key}" for outer, value in payload.items() if isinstance(value, dict)
             for key in COMMON_RECORD_KEYS if isinstance(value.get(key), list)]  # fmt: skip
    if len(inner) == 1:
        return list(_at_path(payload, inner[0]))
    raise DataError(f"{url}: the JSON answer has no list of records under any of the keys "
                    f"{list(COMMON_RECORD_KEYS)}{_lists_hint(payload)}")  # fmt: skip


def _at_path(payload: Any, path: str) -> Any:
    """The value at a key, or at a dotted path of keys (a key that holds a dot is read as
    one key first)."""
    if isinstance(payload, dict) and path in payload:
        return payload[path]
    for key in path.split("."):
        if not isinstance(payload, dict) or key not in payload:
            return None
        payload = payload[key]
    return payload


def _lists_hint(payload: dict[str, Any]) -> str:
    """Where the answer does hold lists of objects (two levels deep), as records_key values."""
    paths = [key for key, value in payload.items() if _objects(value)]
    paths += [f"{key}.{inner}" for key, value in payload.items() if isinstance(value, dict)
              for inner, held in value.items() if _objects(held)]  # fmt: skip
    if not paths:
        return ""
    return (
        f'; it holds lists of objects at {paths[:5]}: set "records_key" in the parser config '
        "(mlfn init: --records-key)"
    )


def _objects(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict)


def _next_link(payload: Any, link_header: str | None) -> str | None:
    if isinstance(payload, dict):
        nxt = payload.get("next") or (payload.get("links") or {}).get("next")
        if isinstance(nxt, str) and nxt:
            return nxt
    if link_header:
        match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link_header)
        if match:
            return match.group(1)
    return None


def _read_http(url: str, records_key: str | None, guard: FetchGuard | None = None) -> RawData:
    import httpx

    max_pages, max_bytes = limits()
    budget = [max_bytes]
    records: list[dict[str, Any]] = []
    page_url: str | None = url
    pages = 0
    with httpx.Client(timeout=30.0, follow_redirects=False, trust_env=guard is None) as client:
        while page_url:
            if pages >= max_pages:
                raise SourceError(f"{url}: more than {max_pages} pages (MLFN_SOURCE_MAX_PAGES)")
            payload, final_url, link = get_json(client, page_url, guard, budget)
            records.extend(extract_records(payload, records_key, page_url))
            nxt = _next_link(payload, link)
            page_url = str(httpx.URL(final_url).join(nxt)) if nxt else None
            pages += 1
    data = b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in records)
    parsed = urlparse(url)
    return RawData(_safe_name(parsed.netloc + parsed.path), "jsonl", data, url)
