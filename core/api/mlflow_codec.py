"""MLflow's scoring protocol (what `mlflow models serve` speaks) as a codec over the rows the
dataplane takes: a JSON object with exactly one of `dataframe_split`, `dataframe_records`,
`instances` or `inputs` (rows, columns, or a 2-D tensor in the schema's order) and optional
`params`, or `text/csv` with a header. Columns the model does not use are ignored; the order
of the columns does not matter; nulls reach the model's imputers. Errors have MLflow's
shape: `{"error_code": "BAD_REQUEST", "message": ...}`."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from core import json_text
from core.errors import ValidationError, unreadable_json

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
ERROR_CODES = {
    400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST", 405: "BAD_REQUEST", 409: "RESOURCE_CONFLICT",
    413: "REQUEST_LIMIT_EXCEEDED", 415: "BAD_REQUEST", 422: "BAD_REQUEST",
    429: "REQUEST_LIMIT_EXCEEDED", 503: "TEMPORARILY_UNAVAILABLE",
}  # fmt: skip


def mlflow_error_body(status: int, message: str) -> dict[str, str]:
    """MLflow's error body; a 422 of ours is MLflow's 400 BAD_REQUEST."""
    return {"error_code": ERROR_CODES.get(status, "INTERNAL_ERROR"), "message": message}


def mlflow_status(status: int) -> int:
    return 400 if status == 422 else status


def _split(split: Any) -> list[dict[str, Any]]:
    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise ValidationError("'dataframe_split' needs 'columns' and 'data' (a list of rows)")
    columns = split.get("columns")
    if not isinstance(columns, list):
        raise ValidationError("'dataframe_split' needs 'columns': the names of the columns")
    return _tensor(split["data"], [str(c) for c in columns], "dataframe_split.data")


def _tensor(data: list[Any], columns: list[str], where: str) -> list[dict[str, Any]]:
    rows = []
    for i, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValidationError(f"{where}[{i}] must be a list of {len(columns)} values")
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def _columnar(columns: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """{"a": [1, 2], "b": [3, 4]} → two rows."""
    lengths = {len(v) if isinstance(v, list) else -1 for v in columns.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise ValidationError(f"'{where}' in columns form needs a list of equal length per column")
    count = lengths.pop()
    return [{name: values[i] for name, values in columns.items()} for i in range(count)]


def _records(value: Any, where: str, schema: list[str]) -> list[dict[str, Any]]:
    """Rows from `instances` or `inputs`: rows, columns, or a tensor in schema order."""
    if isinstance(value, dict):
        return _columnar(value, where)
    if not isinstance(value, list):
        raise ValidationError(f"'{where}' must be a list of rows or an object of columns")
    if all(isinstance(row, dict) for row in value):
        return value
    if all(isinstance(row, list) for row in value):
        return _tensor(value, schema, where)
    raise ValidationError(f"'{where}' mixes rows of different kinds; send objects or lists")


def rows_of_json(body: Any, schema: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, params) from an MLflow JSON body; `schema`: the model's feature names, in order."""
    if not isinstance(body, dict):
        raise ValidationError(f"the body must be a JSON object with exactly one of {list(FORMATS)}")
    given = [key for key in FORMATS if key in body]
    unknown = sorted(set(body) - set(FORMATS) - {"params"})
    if len(given) != 1 or unknown:
        raise ValidationError(
            f"give exactly one of {list(FORMATS)} (and optionally 'params'); got {sorted(body)}"
        )
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise ValidationError("'params' must be a JSON object")
    key = given[0]
    if key == "dataframe_split":
        return _split(body[key]), params
    if key == "dataframe_records" and not isinstance(body[key], list):
        raise ValidationError("'dataframe_records' must be a list of rows")
    return _records(body[key], key, schema), params


def _cell(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def rows_of_csv(data: bytes, schema: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows from CSV with a header line; numbers as numbers, empty cells as nulls.
    `schema`: the model's column names (a lone column named "a;b" may be one of them)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("the CSV body is not UTF-8 text") from None
    from core.data.formats import SNIFF_BYTES, spaced_after_separator  # CSV bodies only

    spaced = spaced_after_separator(text[:SNIFF_BYTES], ",")  # `a, b`: as ingest reads it
    reader = csv.reader(io.StringIO(text), skipinitialspace=spaced)
    header = next(reader, None)
    if not header:
        raise ValidationError("the CSV body needs a header line with the column names")
    separator = _other_separator(header, schema)
    if separator is not None:
        raise ValidationError(
            f"the CSV header names one column, {header[0][:100]!r}: the body looks separated "
            f"by {separator}; separate values with commas"
        )
    rows = []
    for row in reader:
        if not row:
            continue
        if len(row) != len(header):
            raise ValidationError(_ragged_csv(header, row, reader.line_num))
        rows.append(dict(zip(header, map(_cell, row), strict=True)))
    return rows


def _other_separator(header: list[str], schema: Sequence[str]) -> str | None:
    """How the body seems separated, when its header is one column holding ';', a tab or
    '|' and the model has no column of that name; None otherwise."""
    if len(header) != 1 or header[0] in schema:
        return None
    found = next((sep for sep in ";\t|" if sep in header[0]), None)
    return None if found is None else {"\t": "tabs"}.get(found, f"'{found}'")


def _ragged_csv(header: list[str], row: list[str], line: int) -> str:
    """A CSV line whose values do not fit the header, said with what to do about it."""
    return (
        f"CSV line {line} has {len(row)} value(s), the header names {len(header)} column(s): "
        "give each line one value per column (quote values holding a comma)"
    )


def decode(data: bytes, content_type: str, schema: list[str]) -> tuple[list[dict[str, Any]], dict]:
    """(rows, params) from a request body of `content_type` (JSON or CSV)."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "text/csv":
        return rows_of_csv(data, schema), {}
    if mime not in ("application/json", ""):
        raise ValidationError(
            f"content type '{mime}' is not supported; send application/json or text/csv"
        )
    try:
        body = json_text.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(unreadable_json(exc, "send a JSON object or CSV")) from None
    return rows_of_json(body, schema)


def only_known(rows: list[dict[str, Any]], features: list[str]) -> list[dict[str, Any]]:
    """The rows without the columns the model does not use (MLflow ignores them too)."""
    wanted = set(features)
    return [{k: v for k, v in row.items() if k in wanted} for row in rows]
